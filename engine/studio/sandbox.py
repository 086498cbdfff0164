"""A throwaway database for trying a procedure's files: scenario runs and play sessions.

A sandbox is a SQLite file in a temporary folder with the schema, the demo county (the users
scenarios name) and the given files deployed; it never sees the real database, its
notifications or its attachments. Time is simulated: the sandbox's own ``FrozenClock`` is the
clock of whichever thread works in it (``engine.clock.using``), so timers fire when the
simulated time passes their due moment, not when the wall clock does. It stays SQLite even when
the product runs on PostgreSQL: the engine runs the same on both, and a file in a temporary
folder needs no server, no credentials and no clean-up beyond removing the folder.

Creating the schema and hashing the demo users' passwords takes seconds, so it is done once per
process into a template file that every sandbox copies.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .. import clock
from ..clock import FrozenClock
from ..context import Services, open_services
from ..definitions.deployment import DeployResult, deploy
from ..org.demo import load_demo_org
from ..settings import Settings, load_settings
from ..store.schema import upgrade
from ..store.tables import metadata
from .workspace import check_files

# Monday 2 March 2026, 09:00 Beijing time: the moment the shipped scenarios are written against.
DEFAULT_START = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
SANDBOX_ACTOR = "studio-sandbox"

_template_lock = threading.Lock()
_template: Path | None = None


@dataclass
class Sandbox:
    """A throwaway database with files deployed in it, and its simulated clock."""

    root: Path | None
    services: Services
    clock: FrozenClock
    deployed: list[DeployResult] = field(default_factory=list)
    # Set when the sandbox lives inside a transaction of an existing database (the test suite's,
    # so that scenarios also run on PostgreSQL): everything is rolled back on close.
    connection: Connection | None = None
    _outer: object = None

    @contextmanager
    def simulated(self) -> Iterator[FrozenClock]:
        """Make the sandbox's clock the current thread's clock inside the block."""
        with clock.using(self.clock):
            yield self.clock

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session on the sandbox database, under its clock; commit on success."""
        if self.connection is None:
            with self.simulated(), self.services.session() as session:
                yield session
            return
        session = Session(bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
                          info={"pingan": self.services.context})
        try:
            with self.simulated():
                yield session
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def release(self) -> None:
        """Let go of the database connections, keeping the folder (a play session between requests)."""
        self.services.dispose()

    def close(self) -> None:
        """Drop the database and the folder (or roll back everything done in the borrowed one)."""
        if self.connection is not None:
            self._outer.rollback()
            self.connection.close()
        else:
            self.services.dispose()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def open_sandbox(files: dict[str, str], *, settings: Settings | None = None,
                 start_at: datetime | None = None, within: Services | None = None, root: Path | None = None) -> Sandbox:
    """Create a throwaway database, deploy ``files`` (repository layout) in it at the simulated ``start_at``.

    ``within`` borrows an existing database with the demo county loaded instead (the test suite,
    to play scenarios on PostgreSQL too): all work happens in one transaction rolled back on close.
    ``root`` is an empty folder to build the sandbox in (a play session's), else a temporary one.
    Raises DefinitionInvalid (with file, line and element) when the files do not deploy; the
    sandbox is then already removed.
    """
    files = check_files(files)
    if within is not None:
        return _borrowed(files, within, start_at)
    root = root or Path(tempfile.mkdtemp(prefix="pingan-sandbox-"))
    try:
        database = root / "sandbox.db"
        shutil.copyfile(_template_database(settings), database)
        services = _services(settings, root, database)
        box = Sandbox(root, services, FrozenClock(start_at or DEFAULT_START))
        source = root / "files"
        for path, text in files.items():
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (source / "processes").mkdir(parents=True, exist_ok=True)
        try:
            with box.session() as session:
                box.deployed = deploy(session, paths=[source], actor=SANDBOX_ACTOR)
        except BaseException:
            services.dispose()
            raise
        return box
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def reopen_sandbox(root: Path, *, settings: Settings | None, now: datetime) -> Sandbox:
    """Open the sandbox built earlier in ``root`` with its clock at ``now``."""
    return Sandbox(root, _services(settings, root, root / "sandbox.db"), FrozenClock(now))


def _borrowed(files: dict[str, str], services: Services, start_at: datetime | None) -> Sandbox:
    connection = services.engine.connect()
    box = Sandbox(None, services, FrozenClock(start_at or DEFAULT_START), connection=connection,
                  _outer=connection.begin())
    try:
        with tempfile.TemporaryDirectory(prefix="pingan-sandbox-") as folder:
            for path, text in files.items():
                target = Path(folder) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            (Path(folder) / "processes").mkdir(exist_ok=True)
            with box.session() as session:
                box.deployed = deploy(session, paths=[Path(folder)], actor=SANDBOX_ACTOR)
    except BaseException:
        box.close()
        raise
    return box


def _services(settings: Settings | None, root: Path, database: Path) -> Services:
    base = settings or load_settings()
    # Same time zone, working hours and limits as the product; everything else is the sandbox's own.
    own = base.with_(database_url=f"sqlite:///{database}", database_schema=None, instance_path=root,
                     processes_dir=root / "files" / "processes", forms_dir=root / "files" / "forms",
                     timer_mode="off")
    return open_services(own)


def _template_database(settings: Settings | None) -> Path:
    global _template
    with _template_lock:
        if _template is not None and _template.exists():
            return _template
        folder = Path(tempfile.mkdtemp(prefix="pingan-sandbox-template-"))
        atexit.register(shutil.rmtree, folder, True)
        database = folder / "template.db"
        services = _services(settings, folder, database)
        try:
            upgrade(services.engine)
            # Tables added before their migration is written exist here too.
            metadata.create_all(services.engine)
            with services.session() as session:
                load_demo_org(session)
        finally:
            services.dispose()  # the last connection closing folds the WAL into the file
        _template = database
        return database

