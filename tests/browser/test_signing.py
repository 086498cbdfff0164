"""加签 in the browser (issue 13, item 9): the holder adds an after-signer on a desktop, submits; the signer
signs on a phone; the case page tells the story in names."""
from __future__ import annotations

from .conftest import shoot
from .test_case_diagram import _cancel


def _mediate_claimed(services) -> tuple[int, str]:
    """An `assign` case registered by li.sl: its mediate task is claimed by 河西镇's liu.tj."""
    from engine.org.orgs import actor_for
    from engine.runtime import lifecycle, tasks
    from tests.factories import only_task

    with services.session() as s:
        li = actor_for(s, username="li.sl")
        case = lifecycle.start_instance(s, process_key="assign", actor=li, data={"parties": [{"name": "王大"}, {"name": "李二"}]})
        register = only_task(s, case.id, "register")
        lifecycle.complete_task(s, task_id=register.id, actor=li,
                              data={"summary": "宅基地边界纠纷", "township": "hexi", "approver": "lin.ld"})
        task = only_task(s, case.id, "mediate")
        tasks.claim_task(s, task_id=task.id, actor=actor_for(s, username="liu.tj"))
        s.commit()
        return case.id, task.id


def test_after_signer_signs_on_a_phone(new_page, live_services):
    case_id, task_id = _mediate_claimed(live_services)
    try:
        holder = new_page("liu.tj")
        holder.goto(f"/tasks/{task_id}")
        holder.click("summary:has-text('加签')")
        holder.check("input[name=position][value=after]")
        # Nobody chosen: the dialog stays open with the message, the note typed is kept.
        holder.fill("details[open] textarea[name=opinion]", "请司法所把关协议条款")
        with holder.expect_navigation():
            holder.click("button:has-text('确认加签')")
        dialog = holder.locator("details[open]")
        assert "请选择加签人" in dialog.inner_text()
        assert dialog.locator("textarea[name=opinion]").input_value() == "请司法所把关协议条款"
        assert dialog.locator("input[name=position][value=after]").is_checked()
        signer_label = dialog.locator("select[name=to] option[value='ma.sf']").inner_text()
        dialog.locator("select[name=to]").select_option("ma.sf")
        with holder.expect_navigation():
            holder.click("button:has-text('确认加签')")
        signers = holder.locator(".card.signers").inner_text()
        assert "后加签" in signers and "待签署" in signers and signer_label.split("（")[0].strip() in signers
        shoot(holder, "signing-holder-desktop")

        holder.fill("textarea[name='f.result']", "双方同意以现有围墙为界")
        with holder.expect_navigation():
            holder.click("button[value=complete]")
        assert "待加签人签署后流转" in holder.inner_text("main")

        signer = new_page("ma.sf", mobile=True)
        assert "宅基地边界纠纷" in signer.inner_text("main")  # it is in the signer's to-do list
        signer.goto(f"/tasks/{task_id}")
        card = signer.locator(".sign-card")
        text = card.inner_text()
        assert "加签签署" in text and "双方同意以现有围墙为界" in text and "请司法所把关协议条款" not in text
        signer.check("input[name=decision][value=disagree]")
        with signer.expect_navigation():
            signer.click("button:has-text('提交签署')")
        assert "不同意时请填写理由" in signer.locator(".sign-card").inner_text()
        assert signer.locator("input[name=decision][value=disagree]").is_checked()
        signer.fill(".sign-card textarea[name=opinion]", "请写明围墙维修费用分担")
        assert "不是它的办理人" not in signer.inner_text("main")
        shoot(signer, "signing-signer-phone")
        width = signer.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the signing page scrolls sideways on a phone ({width}px)"
        with signer.expect_navigation():
            signer.click("button:has-text('提交签署')")

        # Sent back: the holder finds the submission kept, amends it and submits; the signer agrees.
        holder.goto(f"/tasks/{task_id}")
        assert holder.locator("textarea[name='f.result']").input_value() == "双方同意以现有围墙为界"
        holder.fill("textarea[name='f.result']", "双方同意以现有围墙为界，维修费用各半")
        with holder.expect_navigation():
            holder.click("button[value=complete]")
        signer.goto(f"/tasks/{task_id}")
        signer.check("input[name=decision][value=agree]")
        with signer.expect_navigation():
            signer.click("button:has-text('提交签署')")

        holder.goto(f"/cases/{case_id}")
        history = holder.inner_text("main")
        for said in ("加签", "后加签", "提交待会签", "会签", "不同意", "请写明围墙维修费用分担", "同意"):
            assert said in history, said
        assert "ma.sf" not in history  # names, not user names
    finally:
        _cancel(live_services, case_id)
