"""Regenerate the initial migration from the models (only while 0001 has not landed on main)."""
import re
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from engine.store.schema import MIGRATIONS, alembic_config

target = MIGRATIONS / "versions" / "0001_initial_schema.py"
target.unlink(missing_ok=True)
db = Path("/tmp/pingan-regen.db")
db.unlink(missing_ok=True)
cfg = alembic_config(create_engine(f"sqlite:///{db}"))
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
text = target.read_text()
text = text.replace("engine.store.db.UTCDateTime(timezone=True)", "sa.DateTime(timezone=True)")
text = text.replace("astext_type=Text()", "astext_type=sa.Text()")
text = re.sub(r"Create Date: .*", "Create Date: 2026-11-27", text)
text = "\n".join(l for l in text.splitlines() if "### " not in l) + "\n"
if "engine." in text:
    sys.exit("migration still references engine types: fix by hand")
target.write_text(text)
print("wrote", target)
