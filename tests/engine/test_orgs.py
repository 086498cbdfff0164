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


def test_a_person_picker_offers_the_active_holders_of_its_role_at_the_org_and_above_by_name(session):
    from sqlalchemy import func, select

    from engine.org.choices import person_choices
    from engine.org.orgs import get_org
    from engine.store.models import User

    chengguan = get_org(session, code="chengguan")
    session.scalar(select(User).where(User.username == "guo.tj")).active = False  # not offered once inactive
    session.flush()
    county = get_org(session, code="county").name
    # Read as columns (no User objects): the values are usernames, what people read is name and org.
    assert person_choices(session, role="mediator", org_path=chengguan.path) == [
        ("sun.tj", f"孙调解（{county}）"), ("chen.tj", "陈调解（城关镇）")]
    everyone = person_choices(session, role=None)
    assert ("liu.tj", "刘调解（河西乡）") in everyone and "guo.tj" not in dict(everyone)
    assert len(everyone) == len(set(dict(everyone))) == session.scalar(
        select(func.count()).select_from(User).where(User.active.is_(True)))
