"""Sign-in lock-out: the same answer for unknown names, throttled per (username, source), growing delays, audited unlocks."""
from __future__ import annotations

from datetime import timedelta

import argon2
import pytest
from sqlalchemy import select

from engine.errors import NotAllowed, NotFound
from engine.org import auth, lockout
from engine.org.demo import DEMO_PASSWORD
from engine.org.orgs import grant_role
from engine.store.models import LoginThrottle, SecurityEvent, User
from tests.conftest import T0, advance

A, B = "10.0.0.1", "10.0.0.2"


def _fail(session, username, source=A, password="wrong-password"):
    with pytest.raises((auth.AuthenticationFailed, auth.AccountLocked)) as caught:
        auth.authenticate(session, username=username, password=password, source=source)
    return caught.value


def _answer(exc) -> tuple:
    return type(exc).__name__, exc.status, exc.as_dict()


def test_a_wrong_password_gets_the_same_answer_for_a_real_and_an_unknown_name(session, frozen):
    for attempt in range(4):
        known, unknown = _fail(session, "admin"), _fail(session, "no.such.person")
        assert _answer(known) == _answer(unknown)
        assert (known.status, known.message, known.message_en) == (401, "用户名或密码错误", "wrong username or password")


def test_an_inactive_account_answers_like_an_unknown_name(session, frozen):
    user = session.scalar(select(User).where(User.username == "zhao.wg"))
    user.active = False
    session.flush()
    assert _answer(_fail(session, "zhao.wg", password=DEMO_PASSWORD)) == _answer(_fail(session, "no.such.person"))


def test_unknown_names_do_the_same_argon2_work(session, frozen, monkeypatch):
    calls = []
    real = argon2.PasswordHasher.verify

    def counting(self, hash, password):
        calls.append(hash)
        return real(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    _fail(session, "admin")
    _fail(session, "no.such.person")
    assert len(calls) == 2 and calls[1] == auth._DUMMY_HASH
    assert calls[0] == session.scalar(select(User.password_hash).where(User.username == "admin"))


def test_unknown_names_lock_exactly_like_real_ones(session, frozen):
    for _ in range(4):
        _fail(session, "admin"), _fail(session, "no.such.person")
    known, unknown = _fail(session, "admin"), _fail(session, "no.such.person")
    assert _answer(known) == _answer(unknown)
    assert known.status == 403 and known.locked_until == T0 + timedelta(minutes=1)
    assert "09:01" in known.message and "再错" not in known.message


def test_failing_from_one_address_does_not_lock_the_account_at_another(session, frozen):
    for _ in range(12):
        _fail(session, "admin", source=A)
    assert isinstance(_fail(session, "admin", source=A, password=DEMO_PASSWORD), auth.AccountLocked)
    user = auth.authenticate(session, username="admin", password=DEMO_PASSWORD, source=B)
    assert user.username == "admin"


def test_each_failure_past_the_threshold_doubles_the_lock_up_to_an_hour(session, frozen):
    for _ in range(4):
        assert isinstance(_fail(session, "li.sl"), auth.AuthenticationFailed)
    lengths = []
    for _ in range(9):
        locked = _fail(session, "li.sl")
        assert isinstance(locked, auth.AccountLocked)
        lengths.append(locked.locked_until - frozen.now())
        # While locked even the right password is refused, and nothing more is counted.
        assert isinstance(_fail(session, "li.sl", password=DEMO_PASSWORD), auth.AccountLocked)
        frozen.set(locked.locked_until + timedelta(seconds=1))
    assert [int(x.total_seconds() // 60) for x in lengths] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    row = session.scalar(select(LoginThrottle).where(LoginThrottle.username == "li.sl", LoginThrottle.source == A))
    assert (row.failures, row.lock_count) == (13, 9)


def test_a_success_clears_the_count_of_that_name_at_that_address(session, frozen):
    for _ in range(4):
        _fail(session, "li.sl")
    auth.authenticate(session, username="li.sl", password=DEMO_PASSWORD, source=A)
    for _ in range(4):
        assert isinstance(_fail(session, "li.sl"), auth.AuthenticationFailed)
    assert isinstance(_fail(session, "li.sl"), auth.AccountLocked)


def test_spraying_many_names_from_one_address_locks_that_address(session, frozen, monkeypatch):
    monkeypatch.setattr(lockout, "SOURCE_FAILURES", 8)  # the rule, not the number: fewer argon2 checks
    for i in range(lockout.SOURCE_FAILURES - 1):
        assert isinstance(_fail(session, f"guess{i}"), auth.AuthenticationFailed)
    assert isinstance(_fail(session, "guess-last"), auth.AccountLocked)
    # Every name from that address is paused, even with the right password; other addresses are not.
    assert isinstance(_fail(session, "wang.wg", password=DEMO_PASSWORD), auth.AccountLocked)
    assert auth.authenticate(session, username="wang.wg", password=DEMO_PASSWORD, source=B).username == "wang.wg"


def test_failures_and_locks_are_recorded(session, frozen):
    for _ in range(5):
        _fail(session, "admin")
    _fail(session, "no.such.person")
    events = session.scalars(select(SecurityEvent).where(SecurityEvent.source == A).order_by(SecurityEvent.id)).all()
    admin_id = session.scalar(select(User.id).where(User.username == "admin"))
    assert [(e.kind, e.username, e.user_id, e.source) for e in events] == (
        [("login_failed", "admin", admin_id, A)] * 5 + [("login_locked", "admin", admin_id, A),
                                                        ("login_failed", "no.such.person", None, A)])
    assert events[5].detail == {"scope": "account", "failures": 5, "lock_count": 1,
                                "locked_until": (T0 + timedelta(minutes=1)).isoformat()}


def test_an_admin_sees_and_clears_locks_and_the_unlock_is_recorded(session, frozen, actors):
    for source in (A, B):
        for _ in range(5):
            _fail(session, "li.sl", source=source)
    admin = actors("admin")
    locks = lockout.list_locks(session, actor=admin, username="li.sl")
    assert sorted((x.source, x.failures, x.locked_until) for x in locks) == [
        (A, 5, T0 + timedelta(minutes=1)), (B, 5, T0 + timedelta(minutes=1))]
    assert lockout.unlock_user(session, actor=admin, username="li.sl") == 2
    assert lockout.list_locks(session, actor=admin, username="li.sl") == []
    assert auth.authenticate(session, username="li.sl", password=DEMO_PASSWORD, source=A).username == "li.sl"
    event = session.scalar(select(SecurityEvent).where(SecurityEvent.kind == "login_unlocked"))
    assert (event.username, event.actor) == ("li.sl", "admin")
    assert sorted(c["source"] for c in event.detail["cleared"]) == [A, B]


def test_a_sub_tree_admin_cannot_unlock_accounts_or_addresses_outside_it(session, frozen, actors, monkeypatch):
    monkeypatch.setattr(lockout, "SOURCE_FAILURES", 12)  # above the 10 failures at A, so only B is paused
    lin = session.scalar(select(User).where(User.username == "lin.ld"))
    grant_role(session, user=lin, role="admin", org_code="chengguan")
    session.flush()
    for _ in range(5):
        _fail(session, "admin")
        _fail(session, "li.sl")
    for i in range(lockout.SOURCE_FAILURES):
        _fail(session, f"guess{i}", source=B)
    local_admin = actors("lin.ld")
    with pytest.raises(NotAllowed):
        lockout.unlock_user(session, actor=local_admin, username="admin")
    visible = lockout.list_locks(session, actor=local_admin)
    assert [(x.username, x.source) for x in visible] == [("li.sl", A)]
    whole_source = next(x for x in lockout.list_locks(session, actor=actors("admin")) if x.username is None)
    assert whole_source.source == B
    with pytest.raises(NotFound):
        lockout.clear_lock(session, actor=local_admin, lock_id=whole_source.id)
    cleared = lockout.clear_lock(session, actor=actors("admin"), lock_id=whole_source.id)
    assert cleared.source == B
    assert auth.authenticate(session, username="wang.wg", password=DEMO_PASSWORD, source=B).username == "wang.wg"


def test_a_password_reset_unlocks_and_is_recorded(session, frozen, actors):
    for _ in range(5):
        _fail(session, "li.sl")
    user_id = session.scalar(select(User.id).where(User.username == "li.sl"))
    auth.reset_password(session, user_id=user_id, new="brand-new-pass", actor=actors("admin"))
    assert auth.authenticate(session, username="li.sl", password="brand-new-pass", source=A).id == user_id
    assert session.scalar(select(SecurityEvent.actor).where(SecurityEvent.kind == "login_unlocked")) == "admin"


def test_counts_forgotten_after_a_quiet_day(session, frozen):
    for _ in range(4):
        _fail(session, "li.sl")
    advance(frozen, hours=24, minutes=1)
    for _ in range(4):
        assert isinstance(_fail(session, "li.sl"), auth.AuthenticationFailed)
