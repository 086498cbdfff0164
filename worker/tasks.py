"""Celery tasks: each takes ids or timestamps, opens a session, calls one engine function, commits."""
from __future__ import annotations

import os
import threading
from datetime import datetime

from celery import shared_task
from celery.signals import worker_process_init, worker_process_shutdown
from sqlalchemy.exc import OperationalError

from engine.context import Services, open_services
from engine.runtime import timers
from engine.settings import load_settings
from engine.store.audit import check_audit_key
from engine.studio.migration import take_up_stalled_jobs

_services: dict[tuple, Services] = {}
_lock = threading.Lock()


def services_for(app) -> Services:
    """Return this worker process's Services for the app's settings (made after fork, then reused)."""
    settings = app.conf.get("pingan_settings") or load_settings()
    key = (os.getpid(), settings.database_url, settings.database_schema)
    with _lock:
        if key not in _services:
            check_audit_key(settings)  # a deployment never signs history with the public default key
            _services[key] = open_services(settings)
        return _services[key]


def close_services() -> None:
    """Dispose every database pool this process opened for tasks."""
    with _lock:
        for services in _services.values():
            services.dispose()
        _services.clear()


@worker_process_init.connect
def _forget_parent_pool(**_kwargs) -> None:
    # A forked child must not reuse the parent's database connections.
    _services.clear()


@worker_process_shutdown.connect
def _close_pool(**_kwargs) -> None:
    close_services()


@shared_task(name="pingan.sweep_timers", bind=True, ignore_result=True)
def sweep_timers(self, now: str | None = None) -> dict:
    """Fire due timers, start scheduled cases and send deadline notices."""
    moment = datetime.fromisoformat(now) if now else None
    services = services_for(self.app)
    summary = timers.sweep(services, now=moment).summary()
    # A case migration whose worker was lost is queued again (once per lease, whichever sweep sees it).
    summary["migrations_taken_up"] = take_up_stalled_jobs(
        services.session_factory, run=lambda job_id: run_migration_job.delay(job_id), now=moment)
    return summary


@shared_task(name="pingan.fire_timers", bind=True, ignore_result=True)
def fire_timers(self, now: str | None = None) -> dict:
    """Start due scheduled cases and fire due timers in SKIP LOCKED batches (sent by the sweeper)."""
    moment = datetime.fromisoformat(now) if now else None
    return timers.fire_timers(services_for(self.app), now=moment).summary()


@shared_task(name="pingan.run_instance_steps", bind=True, ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def run_instance_steps(self, instance_id: int) -> None:
    """Run one case's automatic steps (queued by a request that should not wait for them)."""
    with services_for(self.app).session() as s:
        timers.run_instance_steps(s, instance_id=instance_id)


@shared_task(name="pingan.evaluate_warnings", bind=True, ignore_result=True)
def evaluate_warnings(self, now: str | None = None) -> dict | None:
    """Evaluate the warning rules (预警) if their interval has passed."""
    from engine.board.warnings import evaluate_if_due

    moment = datetime.fromisoformat(now) if now else None
    report = evaluate_if_due(services_for(self.app), now=moment)
    return report.summary() if report else None


@shared_task(name="pingan.run_migration_job", bind=True, ignore_result=True, max_retries=None)
def run_migration_job(self, job_id: int) -> str:
    """Move a case-migration job's cases to their target version (queued by POST /api/v1/migrations)."""
    from engine.studio.migration import LEASE, run_migration_job as run

    status = run(services_for(self.app).session_factory, job_id).value
    if status == "running":
        # Held by another runner (a redelivery after a lost worker finds the lease still fresh):
        # look again once the lease has run out; a live runner will have finished or renewed it.
        raise self.retry(countdown=LEASE.total_seconds())
    return status
