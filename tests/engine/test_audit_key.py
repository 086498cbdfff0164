"""The audit chain is keyed: someone who can write the database but lacks PINGAN_AUDIT_KEY cannot rewrite history unnoticed."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from engine.settings import DEFAULT_AUDIT_KEY, load_settings
from engine.store import audit
from engine.store.audit import AuditKeyMissing, check_audit_key
from engine.store.models import AuditEntry, Instance, SecurityEvent
from tests.factories import start_review


def _content(entry: AuditEntry) -> bytes:
    # What the entry says, exactly as Pingan has always serialised it for hashing.
    return json.dumps({
        "instance_id": entry.instance_id, "seq": entry.seq, "kind": entry.kind, "at": entry.at.isoformat(),
        "actor": entry.actor, "task_id": entry.task_id, "element_id": entry.element_id, "opinion": entry.opinion,
        "payload": entry.payload, "prev": entry.prev_hash,
    }, sort_keys=True, ensure_ascii=False, default=str).encode()


def _plain(entry: AuditEntry) -> str:
    return hashlib.sha256(_content(entry)).hexdigest()


def _rechain(session, instance_id: int, *, digest, from_seq: int = 1, edit=None) -> None:
    """Rewrite a chain from ``from_seq`` on, as someone with write access to the database would."""
    entries = session.scalars(select(AuditEntry).where(AuditEntry.instance_id == instance_id)
                              .order_by(AuditEntry.seq)).all()
    prev = audit.GENESIS
    for entry in entries:
        if entry.seq >= from_seq:
            if edit:
                edit(entry)
            entry.prev_hash = prev
            entry.hash = digest(entry)
        prev = entry.hash
    session.flush()
    session.execute(text("UPDATE instances SET audit_head = :h WHERE id = :i"), {"h": prev, "i": instance_id})
    session.expire_all()


def _forge(entry: AuditEntry) -> None:
    if entry.seq == 2:
        entry.opinion = "同意（伪造）"


def test_an_honest_chain_verifies(session, actors):
    inst = start_review(session, actors("li.sl"))
    assert audit.verify(session, instance_id=inst.id) == (3, [])


def test_a_chain_recomputed_with_plain_sha256_over_edited_rows_is_reported(session, actors):
    inst = start_review(session, actors("li.sl"))
    _rechain(session, inst.id, digest=_plain, from_seq=2, edit=_forge)
    checked, breaks = audit.verify(session, instance_id=inst.id)
    assert checked == 3
    assert [(b.seq, b.kind) for b in breaks] == [(2, "unkeyed"), (3, "unkeyed")]
    assert "未用审计密钥签名" in breaks[0].reason


def test_a_chain_recomputed_with_a_guessed_key_is_reported(session, actors):
    inst = start_review(session, actors("li.sl"))
    guess = "pingan"
    _rechain(session, inst.id, digest=lambda e: hmac.new(guess.encode(), _content(e), hashlib.sha256).hexdigest(),
             from_seq=2, edit=_forge)
    _, breaks = audit.verify(session, instance_id=inst.id)
    assert [(b.seq, b.kind) for b in breaks] == [(2, "broken"), (3, "broken")]
    assert "内容与签名不符" in breaks[0].reason


def test_old_plain_hash_chains_are_reported_until_rekeyed_then_verify(session, actors):
    inst = start_review(session, actors("li.sl"))
    _rechain(session, inst.id, digest=_plain)  # as the code before the key wrote it
    assert [b.kind for b in audit.verify(session, instance_id=inst.id)[1]] == ["unkeyed"] * 3
    # The case went on after the upgrade: its new entry is keyed and links to the old head.
    instance = session.get(Instance, inst.id)
    audit.record(session, instance=instance, kind=audit.EntryKind.URGED, actor="admin", payload={"note": "催办"})
    session.flush()
    report = audit.rekey(session, actor="cli")
    assert (report.resigned, report.entries, report.refused) == (1, 4, [])
    assert audit.verify(session, instance_id=inst.id) == (4, [])
    event = session.scalar(select(SecurityEvent).where(SecurityEvent.kind == "audit_rekeyed"))
    assert event.actor == "cli" and event.detail["entries"] == 4


def test_rekey_leaves_an_already_broken_old_chain_broken(session, actors):
    inst = start_review(session, actors("li.sl"))
    _rechain(session, inst.id, digest=_plain)
    session.execute(text("UPDATE audit_entries SET opinion = 'edited' WHERE instance_id = :i AND seq = 2"),
                    {"i": inst.id})
    session.expire_all()
    report = audit.rekey(session, actor="cli")
    assert [(b.instance_id, b.seq, b.kind) for b in report.refused] == [(inst.id, 2, "broken")]
    kinds = [(b.seq, b.kind) for b in audit.verify(session, instance_id=inst.id)[1]]
    assert (2, "broken") in kinds


def test_cli_verify_exits_1_on_a_recomputed_chain_and_0_on_an_honest_one(committed, monkeypatch):
    from engine.org.orgs import actor_for
    from web import cli

    with committed.session() as s:
        honest = start_review(s, actor_for(s, username="li.sl")).id
        forged = start_review(s, actor_for(s, username="li.sl")).id
    with committed.session() as s:
        _rechain(s, forged, digest=_plain, from_seq=2, edit=_forge)
    monkeypatch.setattr(cli, "_services", lambda: committed)
    runner = CliRunner()
    ok = runner.invoke(cli.main, ["audit", "verify", "--instance", str(honest)])
    assert ok.exit_code == 0, ok.output
    assert "审计链完整" in ok.output
    bad = runner.invoke(cli.main, ["audit", "verify", "--instance", str(forged)])
    assert bad.exit_code == 1
    assert f"案件 {forged} 第 2 条" in bad.output and "未用审计密钥签名" in bad.output


def test_outside_development_the_default_key_is_refused(caplog):
    with pytest.raises(AuditKeyMissing) as refused:
        check_audit_key(load_settings(env={}))
    assert "PINGAN_AUDIT_KEY" in refused.value.message
    check_audit_key(load_settings(env={"PINGAN_AUDIT_KEY": "k" * 40}))
    with caplog.at_level(logging.WARNING, logger="engine.store.audit"):
        check_audit_key(load_settings(env={"PINGAN_DEVELOPMENT": "1"}))
    assert "默认密钥" in caplog.text
    assert load_settings(env={}).audit_key == DEFAULT_AUDIT_KEY


def test_the_cli_refuses_to_start_without_a_key_outside_development(monkeypatch):
    from web import cli

    monkeypatch.delenv("PINGAN_AUDIT_KEY", raising=False)
    monkeypatch.delenv("PINGAN_DEVELOPMENT", raising=False)
    result = CliRunner().invoke(cli.main, ["audit", "verify"])
    assert result.exit_code == 1
    assert "PINGAN_AUDIT_KEY" in result.output
