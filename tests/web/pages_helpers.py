"""Helpers for the page tests: form posts with a CSRF token, and a review case at a chosen step."""
from __future__ import annotations

import re

from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from tests.factories import only_task


def post(client, csrf_token, url: str, data: dict | None = None, **kwargs):
    """POST a page form the way the browser does: urlencoded, with the CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


def review_at_approval(session, *, amount=25000, subject="修缮围墙"):
    """Start a review case as zhang.dd and register it; it waits for the leader's approval."""
    dispatcher = actor_for(session, username="zhang.dd")
    instance = lifecycle.start_instance(session, process_key="review", actor=dispatcher)
    register = only_task(session, instance.id, "register")
    lifecycle.complete_task(session, task_id=register.id, data={"subject": subject, "amount": amount},
                          actor=dispatcher, opinion="请审批")
    session.commit()
    return instance, only_task(session, instance.id, "approve")


def review_at_register(session):
    dispatcher = actor_for(session, username="zhang.dd")
    instance = lifecycle.start_instance(session, process_key="review", actor=dispatcher)
    session.commit()
    return instance, only_task(session, instance.id, "register")


def text_of(response) -> str:
    """The page's visible text, roughly: tags stripped, whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))
