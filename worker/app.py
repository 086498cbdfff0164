"""The Celery app: Redis or RabbitMQ as broker; beat sends timers' work when they fall due.

Start it with ``celery -A worker.app worker`` and ``celery -A worker.app beat`` (or ``pingan
worker`` / ``pingan beat``). Beat runs the sweeper (worker/sweeper.py): it sleeps until the next
timer is due and then sends ``pingan.fire_timers``; a full sweep (timers, deadline notices,
housekeeping) still goes out every ``SWEEP_EVERY`` seconds as the safety net. Settings come from
the same ``PINGAN_*`` variables as the web app, read when Celery first configures the app, not at
import. The database, not the broker, holds every timer: a flushed broker or a restarted beat
loses nothing, a sweep just runs a second later.
"""
from __future__ import annotations

import os

from celery import Celery

from engine.settings import Settings, load_settings

SWEEP_EVERY = 1.0  # seconds between beat's full sweeps: deadline notices, retries, lost fire tasks
# A sweep waiting in the queue longer than this is dropped: a newer one will do its work.
SWEEP_EXPIRES = 10.0
DEFAULT_QUEUE = "pingan"


def celery_config(settings: Settings, *, queue: str | None = None) -> dict:
    """Return the Celery configuration for ``settings``."""
    queue = queue or os.environ.get("PINGAN_CELERY_QUEUE") or DEFAULT_QUEUE
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "timezone": settings.timezone,
        "enable_utc": True,
        # One task at a time per process, acknowledged when done: a worker killed mid-task hands
        # it back. Engine work is idempotent under the instance lock, so a rerun is harmless.
        "worker_prefetch_multiplier": 1,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "imports": ("worker.tasks",),
        # The sweeper: beat's scheduler, woken by the next due timer as well as by its entries.
        "beat_scheduler": "worker.sweeper:TimerScheduler",
        "beat_schedule": {
            "sweep-timers": {"task": "pingan.sweep_timers", "schedule": SWEEP_EVERY,
                             "options": {"expires": SWEEP_EXPIRES}},
            # The same engine function the sweep calls; its claim lets one evaluation per interval through.
            "evaluate-warnings": {"task": "pingan.evaluate_warnings",
                                  "schedule": max(60.0, settings.warning_interval_minutes * 60.0),
                                  "options": {"expires": max(60.0, settings.warning_interval_minutes * 60.0)}},
        },
        "pingan_settings": settings,
    }


def create_celery(settings: Settings | None = None, *, queue: str | None = None) -> Celery:
    """Build the Celery app for ``settings`` (from the environment, when Celery first needs them)."""
    app = Celery("pingan", set_as_current=settings is None)
    if settings is not None:
        app.conf.update(celery_config(settings, queue=queue))
    else:
        app.add_defaults(lambda: celery_config(load_settings(), queue=queue))
    return app


app = create_celery()
