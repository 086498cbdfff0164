"""Wire settings, database and script engine together once per process."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .definitions.scripting import build_script_engine, calendar_var
from .org.calendar import get_calendar
from .settings import Settings
from .spiff.timer_clock import use_zone as use_timer_zone
from .store.db import make_engine, make_session_factory


@dataclass
class EngineContext:
    """What engine functions need besides the session: settings and the script engine."""

    settings: Settings
    script_engine: object = field(default=None)

    def __post_init__(self):
        if self.script_engine is None:
            self.script_engine = build_script_engine(calendar=calendar_var.get,
                                                     time_limit=self.settings.script_time_limit)
        # Read by engine.spiff.workflow.Runner (one budget per request) and its timers.
        self.script_engine.step_budget = self.settings.max_engine_steps
        use_timer_zone(self.settings.timezone)

    def calendar(self, session: Session):
        """Return the working-day calendar (cached per process)."""
        return get_calendar(session, work_hours=self.settings.work_hours, tz=self.settings.timezone)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    context: EngineContext
    # Sessions that only read: on SQLite they never wait for the write lock (engine/store/db.py).
    read_session_factory: sessionmaker

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """Open a session whose transaction commits on success and rolls back on error."""
        session = (self.read_session_factory if read_only else self.session_factory)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def open_services(settings: Settings, *, engine: Engine | None = None) -> Services:
    """Build the database engine, session factory and engine context for ``settings``."""
    engine = engine or make_engine(settings)
    ctx = EngineContext(settings)
    factory = make_session_factory(engine, info={"pingan": ctx})
    read_factory = make_session_factory(engine, read_only=True, info={"pingan": ctx})
    return Services(settings, engine, factory, ctx, read_factory)


def context_of(session: Session) -> EngineContext:
    """Return the engine context a session was opened with."""
    ctx = session.info.get("pingan")
    if ctx is None:
        raise RuntimeError("session was not opened through engine.context.open_services")
    return ctx
