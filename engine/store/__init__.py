"""Storage: the database and its sessions, the core tables, Alembic migrations, row writes, the audit chain and
case tallies.
"""
