"""Settings read from ``PINGAN_*`` environment variables, never at import time."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Known to everyone who has read the source: the web app refuses it outside development mode.
DEFAULT_SECRET_KEY = "dev-secret-change-me"
# Likewise public: audit chains signed with it prove nothing, so it is refused outside development.
DEFAULT_AUDIT_KEY = "dev-audit-key-change-me"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    database_url: str
    database_schema: str | None = None
    broker_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = DEFAULT_SECRET_KEY
    timezone: str = "Asia/Shanghai"
    instance_path: Path = ROOT / "instance"
    processes_dir: Path = ROOT / "processes"
    forms_dir: Path = ROOT / "forms"
    # Working hours as "HH:MM-HH:MM" periods separated by commas.
    work_hours: str = "08:30-12:00,14:00-17:30"
    script_time_limit: float = 2.0
    # Automatic tasks one request may run before the case is put in error (a loop without a wait state).
    max_engine_steps: int = 10_000
    timer_mode: str = "embedded"  # embedded | celery | off
    # A signed-in page session ends after this many idle minutes.
    session_minutes: int = 30
    attachment_max_mb: int = 20
    # A developer's machine or the demo (`make run`): the default secret key is accepted, cookies
    # also travel over plain HTTP.
    development: bool = False
    # Session and remember-me cookies only over HTTPS; None: on unless in development mode.
    secure_cookies: bool | None = None
    # The HMAC key of the audit chains (PINGAN_AUDIT_KEY); kept outside the database so that write
    # access to the database is not enough to rewrite a case's history unnoticed.
    audit_key: str = DEFAULT_AUDIT_KEY
    # Minutes between scheduled evaluations of the warning rules (预警) by the sweep or Celery beat; 0: never.
    warning_interval_minutes: int = 15
    extra: dict = field(default_factory=dict)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def load_settings(env: dict[str, str] | None = None, **overrides) -> Settings:
    """Build settings from the environment, then apply explicit overrides."""
    env = os.environ if env is None else env
    instance_path = Path(env.get("PINGAN_INSTANCE_PATH", ROOT / "instance"))
    values = dict(
        database_url=env.get("PINGAN_DATABASE_URL", f"sqlite:///{instance_path / 'pingan.db'}"),
        database_schema=env.get("PINGAN_DATABASE_SCHEMA") or None,
        broker_url=env.get("PINGAN_BROKER_URL", "redis://127.0.0.1:6379/0"),
        secret_key=env.get("PINGAN_SECRET_KEY", DEFAULT_SECRET_KEY),
        timezone=env.get("PINGAN_TIMEZONE", "Asia/Shanghai"),
        instance_path=instance_path,
        processes_dir=Path(env.get("PINGAN_PROCESSES_DIR", ROOT / "processes")),
        forms_dir=Path(env.get("PINGAN_FORMS_DIR", ROOT / "forms")),
        work_hours=env.get("PINGAN_WORK_HOURS", "08:30-12:00,14:00-17:30"),
        script_time_limit=float(env.get("PINGAN_SCRIPT_TIME_LIMIT", "2.0")),
        max_engine_steps=int(env.get("PINGAN_MAX_ENGINE_STEPS", "10000")),
        timer_mode=env.get("PINGAN_TIMER_MODE", "embedded"),
        session_minutes=int(env.get("PINGAN_SESSION_MINUTES", "30")),
        attachment_max_mb=int(env.get("PINGAN_ATTACHMENT_MAX_MB", "20")),
        development=_flag(env, "PINGAN_DEVELOPMENT") or False,
        secure_cookies=_flag(env, "PINGAN_SECURE_COOKIES"),
        audit_key=env.get("PINGAN_AUDIT_KEY") or DEFAULT_AUDIT_KEY,
        warning_interval_minutes=int(env.get("PINGAN_WARNING_INTERVAL_MINUTES", "15")),
    )
    values.update(overrides)
    return Settings(**values)


def _flag(env, name: str) -> bool | None:
    """Read a yes/no variable; None when unset. A typo fails loudly rather than meaning "no"."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise ValueError(f"{name}={raw!r}: 应为 1/0、true/false、yes/no 或 on/off (expected a yes/no value)")
