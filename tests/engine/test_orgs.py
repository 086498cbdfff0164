"""Orgs and users: the look-ups printouts and the CLI use."""
from __future__ import annotations

from engine.org.orgs import list_users, org_names, user_names


def test_org_names_by_code_leave_out_unknown_codes(session):
    assert org_names(session, codes=["chengguan", "police", "nowhere"]) == {"chengguan": "城关镇", "police": "县公安局"}
    assert org_names(session, codes=[]) == {}


def test_user_names_by_username_leave_out_unknown_users(session):
    assert user_names(session, usernames=["chen.tj", "li.sl", "nobody"]) == {"chen.tj": "陈调解", "li.sl": "李受理"}
    assert user_names(session, usernames=[]) == {}


def test_list_users_sorted_with_their_grants_including_inactive_users(session):
    from engine.store.models import User
    from sqlalchemy import select

    session.scalar(select(User).where(User.username == "xu.ld")).active = False
    session.flush()
    users = list_users(session)
    names = [u.username for u in users]
    assert names == sorted(names) and {"admin", "li.sl", "xu.ld"} <= set(names)
    by_name = {u.username: u for u in users}
    assert by_name["xu.ld"].active is False
    assert [(g.role, g.org.code) for g in by_name["li.sl"].roles] == [("dispatcher", "chengguan")]
