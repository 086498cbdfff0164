"""A timer date written without an offset is in Pingan's zone (PINGAN_TIMEZONE), not the server's."""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.definitions.deployment import deploy
from engine.org.orgs import actor_for
from engine.runtime import lifecycle, timers
from engine.spiff.timer_clock import TimerClock
from engine.store.models import EventWait
from tests.factories import only_task

ZONE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "timer_zone"
UTC = timezone.utc


@pytest.fixture
def server_in_new_york():
    """Run the test with the server's local zone set to New York (TZ), as a misconfigured host would."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def _due(session, instance_id: int) -> dict[str, datetime]:
    rows = session.scalars(select(EventWait).where(EventWait.instance_id == instance_id, EventWait.kind == "timer"))
    return {r.element_id: r.due_at for r in rows}


def test_a_local_timer_date_is_due_in_pingans_zone_whatever_the_servers(session, frozen, server_in_new_york):
    deploy(session, paths=[ZONE])
    inst = lifecycle.start_instance(session, process_key="timer_zone", actor=actor_for(session, username="li.sl"))
    # 10:00 in Beijing is 02:00 UTC; read in the server's zone it would be 15:00 UTC (or 10:00).
    assert _due(session, inst.id) == {"at_ten": datetime(2026, 3, 2, 2, 0, tzinfo=UTC)}
    frozen.set(datetime(2026, 3, 2, 1, 59, tzinfo=UTC))
    assert timers.fire_due(session) == []
    frozen.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    assert [f.element_id for f in timers.fire_due(session)] == ["at_ten"]
    assert only_task(session, inst.id, "after")


def test_the_library_asking_for_local_now_gets_pingans_zone(frozen, server_in_new_york):
    # T0 is 01:00 UTC: 09:00 in Beijing, 20:00 the day before in New York.
    assert TimerClock.now() == datetime(2026, 3, 2, 9, 0)
    assert TimerClock.now(UTC) == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_the_zone_is_the_setting(session, services, frozen):
    EngineContext(services.settings.with_(timezone="Asia/Kathmandu"))  # UTC+05:45
    try:
        deploy(session, paths=[ZONE])
        inst = lifecycle.start_instance(session, process_key="timer_zone", actor=actor_for(session, username="li.sl"))
        assert _due(session, inst.id) == {"at_ten": datetime(2026, 3, 2, 10, 0, tzinfo=UTC) - timedelta(hours=5, minutes=45)}
    finally:
        EngineContext(services.settings)
