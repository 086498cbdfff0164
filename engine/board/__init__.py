"""What inspectors and leaders track: the supervision ledger (督办台账) and its printed reports.

Read functions live in ``ledger`` (no writes, no import of the runtime); ``urging`` is the one
write, bulk 催办 through ``engine.runtime.tasks.urge_task``.
"""
