"""Describe Pingan's process library and write it to ``processes/*.bpmn`` and ``processes/*.dmn``.

Usage (from the repository root)::

    .venv/bin/python processes/tools/build_library.py            # write every process
    .venv/bin/python processes/tools/build_library.py mediation  # just one

This is how the six processes were first laid out (lanes, grid positions, flows, scripts). The
written files are what gets deployed and what a designer edits in the modeller; once a file has
been edited by hand, change it there and stop regenerating it. Forms (``forms/<key>/*.yaml``) and
configs (``processes/<key>.yaml``) are written by hand, never by this script.

Conventions used throughout (see docs/designer-guide.md):
- lanes are named by role (调度员, 网格员, 调解员, 承办人, 督查员, 考核员, 领导);
- org codes and tunable numbers come from the process config ``variables`` (e.g. ``county_org``,
  ``follow_up_days``), never from literals in scripts;
- DMN input entries are standard unary tests: ``>= 30`` compares the column's input value
  (``?`` or ``dmninputexpr`` name it explicitly, e.g. ``0 < ? < 30``).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bpmn_builder import Decision, Process, dmn_xml, user_props as up  # noqa: E402

OUT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# 1. 矛盾纠纷调解 mediation
# ---------------------------------------------------------------------------------------------

def mediation() -> tuple[Process, list]:
    D, M, H, L = "调度员", "调解员", "承办人", "领导"
    p = Process("mediation", "矛盾纠纷调解", [D, M, H, L], documentation=(
        "人民调解：登记受理 → 风险研判（决策表）→ 高风险同时通报公安和领导 → 按层级指派调解员 → 调解（一个月期限，"
        "双方同意可延长）→ 达成协议（第29条内容，生效审查）或终止调解并告知其他途径；村→乡镇→县三级调处；"
        "协议签订后提醒申请司法确认（30日内），回访履行情况，结案归档。"))
    p.message("msg_judicial", "judicial_confirmation", ["court_case_no"])

    p.start("start", "纠纷登记", lane=D, col=0)
    p.user("accept", "受理审查", lane=D, col=1, props=up(due="workdays(accept_workdays)"))
    p.xgw("gw_accept", "是否受理？", lane=D, col=2)
    p.end("end_not_accepted", "不予受理", lane=D, col=3, row=1)
    p.script("start_clock", "受理计时", """
accepted_at = now()
mediation_deadline = days(mediation_limit_days)
extensions = 0
session_count = 0
session_log = []
escalation_log = []
""", lane=D, col=3)
    p.rule("assess_risk", "风险研判", "mediation_risk", lane=D, col=4)
    p.xgw("gw_risk", "高风险？", lane=D, col=5)
    p.pgw("split_alert", "同时通报", lane=D, col=6, row=1)
    p.user("alert_police", "公安稳控处置", lane=H, col=7,
           props=up(candidate_org="police_org", due="urgent_hours(police_response_hours)"))
    p.user("alert_leader", "领导阅批", lane=L, col=7, props=up(candidate_org="county_org", due="urgent_hours(4)"))
    p.pgw("join_alert", lane=D, col=8, row=1)
    p.xgw("merge_level", lane=D, col=9)
    p.script("set_level_org", "确定调处层级", """
if handling_level == '村级' and not village:
    handling_level = '乡镇级'
if handling_level == '村级':
    mediation_org = village
elif handling_level == '乡镇级':
    mediation_org = township
else:
    mediation_org = county_org
""", lane=D, col=10)
    p.user("assign", "指派调解员", lane=D, col=11, props=up(candidate_org="mediation_org", due="workdays(1)"))

    p.xgw("m_merge", lane=M, col=12)
    p.user("session", "调解并制作笔录", lane=M, col=13, props=up(
        candidate_org="mediation_org", assignee="lead_mediator", due="mediation_deadline"))
    p.script("log_session", "记录调解情况", """
session_count = session_count + 1
session_log = session_log + [{'date': session_date, 'level': handling_level, 'mediator': lead_mediator, 'outcome': outcome}]
""", lane=M, col=14)
    p.boundary("limit_timer", "调解期限届满", "session", "timeDate", "mediation_deadline", interrupting=True)
    p.user("limit_reached", "期限届满：征询延期", lane=M, col=13, row=1.2,
           props=up(candidate_org="mediation_org", assignee="lead_mediator", due="workdays(2)"))
    p.xgw("gw_extend", "双方同意延期？", lane=M, col=14, row=1.2)
    p.script("extend", "延长调解期限", """
extensions = extensions + 1
mediation_deadline = days(extension_days)
""", lane=M, col=12, row=1.2)

    p.xgw("gw_outcome", "调解结果？", lane=M, col=15)
    p.user("agreement", "制作调解协议书", lane=M, col=17, props=up(candidate_org="mediation_org", assignee="lead_mediator"))
    p.script("check_agreement", "协议生效审查", """
missing = []
if not all_parties_signed:
    missing.append('各方当事人签名、盖章或按指印')
if not mediator_signed:
    missing.append('调解员签名')
if not committee_sealed:
    missing.append('人民调解委员会印章')
agreement_effective = not missing
agreement_problems = ('协议尚未生效，缺少：' + '、'.join(missing)) if missing else ''
performance_deadline = max([t['deadline'] for t in terms]) if terms else None
judicial_deadline = (date.fromisoformat(signed_date) + timedelta(days=judicial_window_days)).isoformat()
""", lane=M, col=18)
    p.xgw("gw_effective", "协议已生效？", lane=M, col=19)

    care = p.sub("aftercare", "司法确认与回访", lane=M, col=20)
    care.start("a_start", col=0)
    care.pgw("a_split", col=1)
    care.xgw("gw_judicial", "是否申请司法确认？", col=2)
    care.timer("judicial_reminder", "提醒时点", "timeDate", "days(judicial_reminder_days)", col=3, row=1)
    care.user("remind_judicial", "提醒申请司法确认", col=4, row=1, props=up(
        candidate_org="mediation_org", assignee="lead_mediator", due="workdays(2)"))
    care.xgw("gw_apply", "已申请？", col=5, row=1)
    care.xgw("court_merge", col=6)
    care.receive_task("await_court", "等待法院确认结果", "msg_judicial", variable="court_result", col=7)
    care.boundary("court_timeout", "久未收到结果", "await_court", "timeDate", "days(court_wait_days)")
    care.script("record_court", "登记法院结果", """
judicial_confirmed = court_result.get('confirmed') == True
court_ruling_no = court_result.get('ruling_no')
court_name = court_result.get('court')
""", col=8)
    care.user("court_check", "核实司法确认结果", col=8, row=1, props=up(
        candidate_org="mediation_org", assignee="lead_mediator", due="workdays(3)"))
    care.xgw("j_merge", col=9)
    care.timer("follow_up_wait", "回访时点", "timeDate", "days(follow_up_days)", col=3, row=2.2)
    care.user("follow_up", "回访", col=4, row=2.2, props=up(
        candidate_org="mediation_org", assignee="lead_mediator", due="workdays(3)"))
    care.xgw("gw_performed", "已履行？", col=5, row=2.2)
    care.user("urge_performance", "督促履行", col=6, row=3.2, props=up(
        candidate_org="mediation_org", assignee="lead_mediator", due="workdays(5)"))
    care.xgw("f_merge", col=9, row=2.2)
    care.pgw("a_join", col=10)
    care.end("a_end", "跟踪结束", col=11)
    care.chain("a_start", "a_split", "gw_judicial")
    care.flow("gw_judicial", "court_merge", "judicial_intent == '双方已申请'", name="已申请")
    care.flow("gw_judicial", "judicial_reminder", "judicial_intent == '暂未申请'", name="暂未申请")
    care.flow("gw_judicial", "j_merge", default=True, name="不申请")
    care.chain("judicial_reminder", "remind_judicial", "gw_apply")
    care.flow("gw_apply", "court_merge", "parties_apply == True", name="已申请")
    care.flow("gw_apply", "j_merge", default=True, name="不申请")
    care.chain("court_merge", "await_court", "record_court", "j_merge")
    care.chain("court_timeout", "court_check", "j_merge")
    care.flow("a_split", "follow_up_wait")
    care.chain("follow_up_wait", "follow_up", "gw_performed")
    care.flow("gw_performed", "f_merge", "performance == '已履行'", name="已履行")
    care.flow("gw_performed", "urge_performance", default=True, name="未履行")
    care.chain("urge_performance", "f_merge")
    care.chain("j_merge", "a_join")
    care.chain("f_merge", "a_join", "a_end")

    p.user("close", "结案归档", lane=D, col=21, props=up(candidate_org="mediation_org", due="workdays(3)"))
    p.end("end_closed", "调解成功结案", lane=D, col=22)

    p.script("escalate", "报请上级调处", """
levels = ['村级', '乡镇级', '县级']
position = levels.index(handling_level)
can_escalate = position < 2
escalation_log = escalation_log + [{'from': handling_level, 'reason': escalate_reason, 'at': now()}]
if can_escalate:
    handling_level = levels[position + 1]
""", lane=D, col=15, row=1)
    p.xgw("gw_escalate", "可以升级？", lane=D, col=16, row=1)
    p.user("terminate", "终止调解并告知途径", lane=M, col=16, row=2.2,
           props=up(candidate_org="mediation_org", assignee="lead_mediator", due="workdays(2)"))
    p.end("end_terminated", "调解终止", lane=M, col=17, row=2.2)

    p.chain("start", "accept", "gw_accept")
    p.flow("gw_accept", "start_clock", "accepted == True", name="受理")
    p.flow("gw_accept", "end_not_accepted", default=True, name="不予受理")
    p.chain("start_clock", "assess_risk", "gw_risk")
    p.flow("gw_risk", "split_alert", "risk_level == '高'", name="高风险")
    p.flow("gw_risk", "merge_level", default=True)
    p.flow("split_alert", "alert_police")
    p.flow("split_alert", "alert_leader")
    p.flow("alert_police", "join_alert")
    p.flow("alert_leader", "join_alert")
    p.flow("join_alert", "merge_level")
    p.chain("merge_level", "set_level_org", "assign", "m_merge", "session", "log_session", "gw_outcome")
    p.flow("gw_outcome", "m_merge", "outcome == '继续调解'", name="继续调解")
    p.flow("gw_outcome", "agreement", "outcome == '达成协议'", name="达成协议")
    p.flow("gw_outcome", "escalate", "outcome == '报请上级调处'", name="报请上级")
    p.flow("gw_outcome", "terminate", default=True, name="调解不成")
    p.chain("agreement", "check_agreement", "gw_effective")
    p.flow("gw_effective", "aftercare", "agreement_effective == True", name="已生效")
    p.flow("gw_effective", "agreement", default=True, name="补正")
    p.chain("aftercare", "close", "end_closed")
    p.chain("escalate", "gw_escalate")
    p.flow("gw_escalate", "merge_level", "can_escalate == True", name="升级")
    p.flow("gw_escalate", "terminate", default=True, name="已是县级")
    p.chain("limit_timer", "limit_reached", "gw_extend")
    p.flow("gw_extend", "extend", "parties_agree_extension == True", name="同意延期")
    p.flow("gw_extend", "terminate", default=True, name="不同意")
    p.flow("extend", "m_merge")
    p.chain("terminate", "end_terminated")

    risk = Decision(
        "mediation_risk", "纠纷风险研判",
        inputs=[("纠纷类型", "dispute_type"), ("涉及金额（元）", "amount"), ("涉及人数", "people_count"),
                ("有激化或暴力倾向", "violence_risk")],
        outputs=[("风险等级", "risk_level"), ("调处层级", "handling_level")],
        rules=[
            (["-", "-", "-", "True"], ["'高'", "'县级'"], "有激化、暴力倾向：立即通报公安和领导"),
            (["-", "-", ">= 30", "-"], ["'高'", "'县级'"], "30人以上，可能引发群体性事件"),
            (["'征地拆迁'", "-", ">= 10", "-"], ["'高'", "'县级'"], "征地拆迁涉及10人以上"),
            (["-", ">= 500000", "-", "-"], ["'中'", "'县级'"], "金额50万元以上，超出乡镇调处权限"),
            (["-", "-", ">= 10", "-"], ["'中'", "'乡镇级'"], "10人以上"),
            (["-", ">= 50000", "-", "-"], ["'中'", "'乡镇级'"], "金额5万元以上"),
            (["'土地山林'", "-", "-", "-"], ["'中'", "'乡镇级'"], "土地山林权属争议"),
            (["'征地拆迁'", "-", "-", "-"], ["'中'", "'乡镇级'"], ""),
            (["'劳动争议'", "-", "-", "-"], ["'中'", "'乡镇级'"], ""),
            (["-", "-", "-", "-"], ["'低'", "'村级'"], "其余：村（社区）调委会调处"),
        ])
    return p, [("mediation_risk", "矛盾纠纷风险研判", [risk])]


# ---------------------------------------------------------------------------------------------
# 2. 网格事件 grid_event
# ---------------------------------------------------------------------------------------------

GRID_CATEGORIES = [
    # category, unit, limit kind, limit, warn at, note
    ("供水管网爆裂（未围挡）", "housing", "紧急工作时", 3, 2, "3个紧急工作时内到场围挡处置"),
    ("燃气泄漏隐患", "housing", "紧急工作时", 2, 1, ""),
    ("道路路面破损", "housing", "工作日", 5, 3, "路面修复5个工作日"),
    ("消防通道堵塞", "police", "工作时", 8, 4, ""),
    ("治安隐患", "police", "工作时", 8, 4, ""),
    ("食品安全隐患", "market", "工作日", 3, 2, ""),
    ("矛盾纠纷", "justice", "工作日", 5, 3, "司法所组织调处；重大纠纷另行登记调解案件"),
    ("劳资欠薪", "hrss", "工作日", 5, 3, ""),
    ("特殊人群异常", "justice", "工作时", 8, 4, "社区矫正、安置帮教对象"),
    ("不稳定因素", "petition", "紧急工作时", 4, 2, "群体性聚集苗头"),
]


def grid_event() -> tuple[Process, list]:
    G, D, H, L = "网格员", "调度员", "承办人", "领导"
    p = Process("grid_event", "网格事件", [G, D, H, L], documentation=(
        "网格事件闭环（参照 GB/T 30428）：网格员上报 → 综治中心立案（或不予立案：无效、重复）→ 按类别派遣成员单位"
        "（决策表给出承办单位和处置时限：紧急工作时/工作时/工作日）→ 处置（派错可退回改派）→ 网格员现场核查"
        "（未解决返工）→ 结案评价。临近时限亮黄灯，超时亮红灯、自动催办并报领导督办。"))
    p.start("start", "网格员上报", lane=G, col=0)
    p.user("accept", "立案审查", lane=D, col=1, props=up(due="workhours(accept_workhours)"))
    p.xgw("gw_accept", "是否立案？", lane=D, col=2)
    p.end("end_rejected", "不予立案", lane=D, col=3, row=1)
    p.script("register", "立案登记", """
accepted_at = now()
returned_units = []
send_back_count = 0
rework_count = 0
""", lane=D, col=3)
    p.rule("route", "派遣规则", "grid_event_routing", lane=D, col=4)
    p.xgw("merge_dispatch", lane=D, col=5)
    p.user("dispatch", "派遣", lane=D, col=6, props=up(due="workhours(dispatch_workhours)"))
    p.xgw("merge_deadline", lane=D, col=7)
    p.script("set_deadline", "确定承办单位和时限", """
handle_unit = dispatch_unit or suggested_unit
dispatch_problem = ''
if not handle_unit:
    dispatch_problem = '本类事件没有默认承办单位，请选择承办单位'
elif handle_unit in returned_units:
    dispatch_problem = '该单位已退回本事件，请改派其他单位'
if limit_kind == '紧急工作时':
    handle_due = urgent_hours(limit_amount)
    handle_warn = urgent_hours(warn_amount)
elif limit_kind == '工作时':
    handle_due = workhours(limit_amount)
    handle_warn = workhours(warn_amount)
else:
    handle_due = workdays(limit_amount)
    handle_warn = workdays(warn_amount)
""", lane=D, col=8)
    p.xgw("gw_unit", "承办单位有效？", lane=D, col=9)
    p.user("handle", "处置", lane=H, col=10, props=up(candidate_org="handle_unit", due="handle_due", warn="handle_warn"))
    p.boundary("handle_overdue", "处置超时", "handle", "timeDate", "handle_due", interrupting=False,
               props={"urge": "'事件处置已超过时限，请立即处置并反馈'"})
    p.script("mark_overdue", "亮红灯", """
overdue = True
light = '红'
""", lane=H, col=10, row=1)
    p.user("escalate_overdue", "超期督办", lane=L, col=11, props=up(candidate_org="county_org", due="workhours(4)"))
    p.end("end_escalated", "督办已批示", lane=L, col=12)
    p.xgw("gw_handle", "处置结果？", lane=H, col=11)
    p.script("note_send_back", "登记退回", """
send_back_count = send_back_count + 1
returned_units = returned_units + [handle_unit]
""", lane=D, col=11, row=1)
    p.script("note_handled", "登记处置", """
handled_at = now()
""", lane=H, col=12)
    p.user("verify", "现场核查", lane=G, col=13, props=up(due="workhours(verify_workhours)"))
    p.xgw("gw_verify", "问题解决？", lane=G, col=14)
    p.script("note_rework", "返工", """
rework_count = rework_count + 1
""", lane=D, col=14, row=1)
    p.user("close", "结案评价", lane=D, col=15, props=up(due="workhours(4)"))
    p.script("kpi", "计算考核指标", """
closed_at = now()
on_time = datetime.fromisoformat(handled_at) <= datetime.fromisoformat(handle_due)
""", lane=D, col=16)
    p.end("end_closed", "结案", lane=D, col=17)

    p.chain("start", "accept", "gw_accept")
    p.flow("gw_accept", "register", "decision == '立案'", name="立案")
    p.flow("gw_accept", "end_rejected", default=True, name="不予立案")
    p.chain("register", "route", "merge_dispatch", "dispatch", "merge_deadline", "set_deadline", "gw_unit")
    p.flow("gw_unit", "merge_dispatch", "dispatch_problem != ''", name="重新派遣")
    p.flow("gw_unit", "handle", default=True)
    p.chain("handle_overdue", "mark_overdue", "escalate_overdue", "end_escalated")
    p.chain("handle", "gw_handle")
    p.flow("gw_handle", "note_send_back", "result == '非本单位职责'", name="退回")
    p.flow("gw_handle", "note_handled", default=True, name="已处置")
    p.flow("note_send_back", "merge_dispatch")
    p.chain("note_handled", "verify", "gw_verify")
    p.flow("gw_verify", "close", "verified == '已解决'", name="已解决")
    p.flow("gw_verify", "note_rework", default=True, name="返工")
    p.flow("note_rework", "merge_deadline")
    p.chain("close", "kpi", "end_closed")

    routing = Decision(
        "grid_event_routing", "网格事件派遣规则",
        inputs=[("事件类别", "category")],
        outputs=[("承办单位", "suggested_unit"), ("时限类型", "limit_kind"), ("处置时限", "limit_amount"),
                 ("黄灯提醒", "warn_amount")],
        rules=[([f"'{c}'"], [f"'{u}'", f"'{k}'", str(n), str(w)], note) for c, u, k, n, w, note in GRID_CATEGORIES]
        + [(["-"], ["None", "'工作日'", "5", "3"], "其他类别：由调度员选择承办单位，5个工作日")])
    return p, [("grid_event_routing", "网格事件派遣规则", [routing])]


# ---------------------------------------------------------------------------------------------
# 3. 督查督办 supervision
# ---------------------------------------------------------------------------------------------

def supervision() -> tuple[Process, list]:
    I, L, H = "督查员", "领导", "承办人"
    p = Process("supervision", "督查督办", [I, H, L], documentation=(
        "督查督办：立项 → 领导审核 → 交办牵头单位和协办单位（协办单位多实例并行）→ 一个工作日内签收 → 办理（定期报送进展，"
        "久未报送自动提醒；期限前可申请延期，由督查员审批）→ 办结报告 → 督查员复核（通过办结销号，不通过退办）→ 通报。"
        "临近期限亮黄灯；到期自动亮黄牌并催办，累计黄牌达到阈值由领导签发督办函；超期达到阈值亮红牌，领导约谈。"
        "所有阈值都是流程参数。"))
    p.start("start", "立项", lane=I, col=0)
    p.user("approve", "领导审核", lane=L, col=1, props=up(candidate_org="county_org", due="workdays(2)"))
    p.xgw("gw_approve", "同意立项？", lane=L, col=2)
    p.end("end_not_approved", "不予立项", lane=L, col=2, row=1)
    p.script("issue", "交办", """
assisting_units = [row['unit'] for row in (assisting or []) if row.get('unit') and row['unit'] != lead_unit]
issued_at = now()
assist_due = workdays(time_limit_workdays)
""", lane=I, col=2)
    p.pgw("split_units", "牵头与协办", lane=I, col=3)

    # lead unit: every variable it changes is created after the split (a join keeps the last branch's copy)
    p.script("schedule", "计算期限", """
receipt_due = workdays(receipt_workdays)
deadline_at = workdays(time_limit_workdays)
warn_at = workdays(max(time_limit_workdays - warn_before_workdays, 1))
red_card_at = workdays(time_limit_workdays + red_card_after_workdays)
extensions = 0
rework_round = 0
yellow_cards = 0
card = '无'
progress_reports = []
""", lane=H, col=4)
    p.user("receipt", "签收", lane=H, col=5, props=up(candidate_org="lead_unit", due="receipt_due"))
    p.boundary("receipt_late", "签收超时", "receipt", "timeDate", "receipt_due", interrupting=False,
               props={"urge": "'督办事项交办已满时限，请立即签收'"})
    p.script("note_receipt", "登记签收", """
received_at = now()
late_receipt = datetime.fromisoformat(received_at) > datetime.fromisoformat(receipt_due)
""", lane=H, col=6)
    p.xgw("m_handle", lane=H, col=7)
    sub = p.sub("handling", "办理", lane=H, col=8)
    sub.start("h_start", col=0)
    sub.xgw("h_merge", col=1)
    sub.user("report", "办理并报告", col=2, props=up(candidate_org="lead_unit", due="deadline_at", warn="warn_at"))
    sub.boundary("progress_reminder", "久未报送进展", "report", "timeCycle", "'R/P' + str(progress_interval_days) + 'D'",
                 interrupting=False, props={"urge": "'请报送督办事项的阶段办理进展'"})
    sub.script("check_report", "登记报告", """
if report_type == '阶段进展':
    progress_reports = progress_reports + [{'at': now(), 'progress': progress}]
extension_too_late = report_type == '申请延期' and datetime.fromisoformat(now()) > datetime.fromisoformat(deadline_at)
report_notice = '已超过办理期限，不能再申请延期，请尽快办结' if extension_too_late else ''
""", col=3)
    sub.xgw("h_gw", "报告类型？", col=4)
    sub.end("h_end", col=5)
    sub.chain("h_start", "h_merge", "report", "check_report", "h_gw")
    sub.flow("h_gw", "h_merge", "report_type == '阶段进展' or extension_too_late", name="继续办理")
    sub.flow("h_gw", "h_end", default=True)
    p.boundary("overdue_yellow", "到期未办结", "handling", "timeDate", "deadline_at", interrupting=False)
    p.boundary("overdue_red", "超期达到红牌阈值", "handling", "timeDate", "red_card_at", interrupting=False)
    p.script("yellow_notice", "亮黄牌", """
card = '黄牌'
yellow_count = yellow_cards + 1
""", lane=L, col=8, row=1)
    p.xgw("gw_letter", "黄牌达到阈值？", lane=L, col=9, row=1)
    p.user("overdue_urge", "到期催办", lane=I, col=10, row=1, props=up(due="workdays(1)"))
    p.end("end_urged", "已催办", lane=I, col=11, row=1)
    p.user("issue_letter", "签发督办函", lane=L, col=10, row=1, props=up(candidate_org="county_org", due="workdays(1)"))
    p.end("end_letter", "督办函已签发", lane=L, col=11, row=1)
    p.script("red_notice", "亮红牌", """
card = '红牌'
""", lane=L, col=9)
    p.user("summon", "约谈承办单位负责人", lane=L, col=10, props=up(candidate_org="county_org", due="workdays(3)"))
    p.end("end_summoned", "约谈完毕", lane=L, col=11)
    p.script("close_round", "本轮办理结束", """
finished_at = now()
if datetime.fromisoformat(finished_at) > datetime.fromisoformat(deadline_at):
    yellow_cards = yellow_cards + 1
    card = '红牌' if datetime.fromisoformat(finished_at) > datetime.fromisoformat(red_card_at) else '黄牌'
""", lane=H, col=9)
    p.xgw("gw_after", "申请延期？", lane=H, col=10)
    p.user("extension_review", "延期审批", lane=I, col=10, props=up(due="workdays(1)"))
    p.script("apply_extension", "调整期限", """
if extension_approved:
    extensions = extensions + 1
    deadline_at = workdays(extension_workdays)
    warn_at = workdays(max(extension_workdays - warn_before_workdays, 1))
    red_card_at = workdays(extension_workdays + red_card_after_workdays)
""", lane=I, col=9)
    p.xgw("gw_first", "首次办结？", lane=H, col=12)

    # assisting units: one task per unit, in parallel
    p.xgw("gw_has_assist", "有协办单位？", lane=H, col=3, row=1)
    p.user("assist", "协办反馈", lane=H, col=5, row=1, props=up(candidate_org="assist_unit", due="assist_due"),
           mi=dict(input="assisting_units", item="assist_unit", output="assist_reports", output_item="assist_result"))
    p.xgw("m_assist", lane=H, col=13, row=1)
    p.pgw("join_units", lane=H, col=13)

    p.user("review", "复核", lane=I, col=14, props=up(due="workdays(3)"))
    p.xgw("gw_review", "复核结论？", lane=I, col=15)
    p.script("rework", "退办", """
rework_round = rework_round + 1
deadline_at = workdays(rework_workdays)
warn_at = workdays(max(rework_workdays - warn_before_workdays, 1))
red_card_at = workdays(rework_workdays + red_card_after_workdays)
""", lane=I, col=15, row=1)
    p.user("publish_notice", "通报", lane=I, col=16, props=up(due="workdays(3)"))
    p.end("end_closed", "办结销号", lane=I, col=17)

    p.chain("start", "approve", "gw_approve")
    p.flow("gw_approve", "issue", "approved == True", name="同意")
    p.flow("gw_approve", "end_not_approved", default=True, name="不同意")
    p.chain("issue", "split_units")
    p.flow("split_units", "schedule")
    p.flow("split_units", "gw_has_assist")
    p.chain("schedule", "receipt", "note_receipt", "m_handle", "handling", "close_round", "gw_after")
    p.chain("overdue_yellow", "yellow_notice", "gw_letter")
    p.flow("gw_letter", "issue_letter", "yellow_count >= letter_after_yellow_cards", name="签发督办函")
    p.flow("gw_letter", "overdue_urge", default=True, name="催办")
    p.chain("issue_letter", "end_letter")
    p.chain("overdue_urge", "end_urged")
    p.chain("overdue_red", "red_notice", "summon", "end_summoned")
    p.flow("gw_after", "extension_review", "report_type == '申请延期'", name="申请延期")
    p.flow("gw_after", "gw_first", default=True, name="办结报告")
    p.chain("extension_review", "apply_extension", "m_handle")
    p.flow("gw_first", "join_units", "rework_round == 0", name="首次")
    p.flow("gw_first", "review", default=True, name="退办后")
    p.flow("gw_has_assist", "assist", "assisting_units", name="有")
    p.flow("gw_has_assist", "m_assist", default=True, name="无", detour="below")
    p.chain("assist", "m_assist", "join_units", "review", "gw_review")
    p.flow("gw_review", "publish_notice", "review_result == '通过'", name="通过")
    p.flow("gw_review", "rework", default=True, name="退办")
    p.flow("rework", "m_handle")
    p.chain("publish_notice", "end_closed")
    return p, []


# ---------------------------------------------------------------------------------------------
# 4. 现场检查 inspection
# ---------------------------------------------------------------------------------------------

def inspection() -> tuple[Process, list]:
    I, D, H = "督查员", "调度员", "承办人"
    p = Process("inspection", "现场检查", [I, D, H], documentation=(
        "现场检查（督导）：制定计划 → 按检查表（流程配置中的 YAML 数据：检查项、分值、否决项）现场逐项评分 → "
        "自动汇总得分并列出扣分项 → 下达整改通知（限期）→ 被检查单位整改并报告（超期自动催办）→ 复查 → "
        "整改到位结案，或再次下达整改通知。"))
    p.start("start", "制定检查计划", lane=I, col=0)
    p.script("load_checklist", "载入检查表", """
checklist = checklists[checklist_key]
checklist_name = checklist['name']
checklist_items = checklist['items']
pass_score = checklist['pass_score']
total_max = sum([item['max'] for item in checklist_items])
rectify_round = 0
score_problems = ''
""", lane=I, col=1)
    p.xgw("m_onsite", lane=I, col=2)
    p.user("onsite", "现场检查评分", lane=I, col=3, props=up(due="workdays(5)"))
    p.script("score", "汇总得分", """
items = {}
for item in checklist_items:
    items[item['code']] = item
given = {}
problems = []
for row in scores or []:
    code = row['code']
    if code not in items:
        problems.append('检查项 ' + code + ' 不在检查表中')
    elif code in given:
        problems.append('检查项 ' + code + ' 重复评分')
    elif row['score'] > items[code]['max']:
        problems.append('检查项 ' + code + ' 得分超过满分 ' + str(items[code]['max']))
    else:
        given[code] = row
missing = [code for code in items if code not in given]
if missing:
    problems.append('尚未评分：' + '、'.join(missing))
score_problems = '；'.join(problems)
total_score = sum([given[code]['score'] for code in given])
failed_items = [{'code': code, 'item': items[code]['item'], 'score': given[code]['score'], 'max': items[code]['max'],
                 'finding': given[code]['finding']} for code in items if code in given and given[code]['score'] < items[code]['max']]
veto_failed = [code for code in items if items[code].get('veto') and code in given and given[code]['score'] < items[code]['max']]
if veto_failed:
    inspection_result = '不合格（否决项未达标）'
elif total_score >= pass_score:
    inspection_result = '合格'
else:
    inspection_result = '不合格'
""", lane=I, col=4)
    p.xgw("gw_scores", "评分有效？", lane=I, col=5)
    p.xgw("gw_findings", "有扣分项？", lane=I, col=6)
    p.end("end_passed", "检查合格", lane=I, col=7, row=1)
    p.xgw("m_notice", lane=I, col=7)
    p.user("notice", "下达整改通知", lane=I, col=8, props=up(due="workdays(2)"))
    p.script("issue_notice", "计算整改期限", """
rectify_round = rectify_round + 1
rectify_due = workdays(rectify_workdays)
rectify_items = failed_items
""", lane=I, col=9)
    p.xgw("gw_kind", "被检查单位类型？", lane=I, col=10)
    p.user("rectify_center", "综治中心整改", lane=D, col=11, props=up(
        candidate_org="target_org", due="rectify_due", form_key="inspection/rectify"))
    p.boundary("rectify_overdue_center", "整改超期", "rectify_center", "timeDate", "rectify_due", interrupting=False,
               props={"urge": "'整改期限已到，请立即报送整改报告'"})
    p.user("rectify_unit", "成员单位整改", lane=H, col=11, props=up(
        candidate_org="target_org", due="rectify_due", form_key="inspection/rectify"))
    p.boundary("rectify_overdue_unit", "整改超期", "rectify_unit", "timeDate", "rectify_due", interrupting=False,
               props={"urge": "'整改期限已到，请立即报送整改报告'"})
    p.xgw("m_rectified", lane=I, col=12)
    p.script("note_rectified", "登记整改报告", """
rectified_at = now()
rectify_late = datetime.fromisoformat(rectified_at) > datetime.fromisoformat(rectify_due)
""", lane=I, col=13)
    p.user("reinspect", "复查", lane=I, col=14, props=up(due="workdays(5)"))
    p.xgw("gw_reinspect", "整改到位？", lane=I, col=15)
    p.end("end_closed", "整改到位结案", lane=I, col=16)

    p.chain("start", "load_checklist", "m_onsite", "onsite", "score", "gw_scores")
    p.flow("gw_scores", "m_onsite", "score_problems != ''", name="更正评分")
    p.flow("gw_scores", "gw_findings", default=True)
    p.flow("gw_findings", "m_notice", "failed_items", name="有扣分")
    p.flow("gw_findings", "end_passed", default=True, name="全部达标")
    p.chain("m_notice", "notice", "issue_notice", "gw_kind")
    p.flow("gw_kind", "rectify_unit", "target_kind == '成员单位'", name="成员单位")
    p.flow("gw_kind", "rectify_center", default=True, name="综治中心")
    p.chain("rectify_center", "m_rectified")
    p.chain("rectify_unit", "m_rectified")
    p.chain("m_rectified", "note_rectified", "reinspect", "gw_reinspect")
    p.flow("gw_reinspect", "end_closed", "reinspect_result == '整改到位'", name="整改到位")
    p.flow("gw_reinspect", "m_notice", default=True, name="再次整改")
    return p, []


# ---------------------------------------------------------------------------------------------
# 5. 考核评价 assessment
# ---------------------------------------------------------------------------------------------

def assessment() -> tuple[Process, list]:
    A, D, H, L = "考核员", "调度员", "承办人", "领导"
    p = Process("assessment", "考核评价", [A, D, H, L], documentation=(
        "平安建设考评：考核员发起考评期（各乡镇多实例）→ 乡镇自查自评并附佐证 → 成员单位并行评分本部门负责的指标 → "
        "实地考评（核定得分、扣分事项、一票否决）→ 按指标模板加权汇总 → 决策表定等次 → 领导审议 → 公示"
        "（五个工作日异议期，异议成立则重新汇总）→ 归档；不合格乡镇一个月内报送整改报告。指标模板是流程配置中的数据。"))
    p.start("start", "发起考评", lane=A, col=0)
    p.script("prepare", "载入指标模板", """
template = indicator_template
township_list = [row['township'] for row in townships]
indicator_rows = []
for section in template['sections']:
    for item in section['items']:
        indicator_rows.append({'section': section['name'], 'code': item['code'], 'name': item['name'],
                               'max': item['max'], 'scorer': section['scorer']})
scoring_units = sorted(set([section['scorer'] for section in template['sections'] if section['scorer'] != 'self']))
deduction_rules = template['deductions']
veto_rules = template['vetoes']
field_scores = []
deductions = []
vetoes = []
field_checked = False
objections = []
""", lane=A, col=1)
    p.user("self_assess", "自查自评", lane=D, col=2, props=up(candidate_org="assess_township", due="workdays(self_assess_workdays)"),
           mi=dict(input="township_list", item="assess_township", output="self_results", output_item="self_scores"))
    p.user("unit_score", "部门考评", lane=H, col=3, props=up(candidate_org="scoring_unit", due="workdays(unit_score_workdays)"),
           mi=dict(input="scoring_units", item="scoring_unit", output="unit_results", output_item="unit_scores"))
    p.xgw("m_compute", lane=A, col=4)
    p.script("compute", "加权汇总", """
template = indicator_template
item_max = {}
item_section = {}
section_scorer = {}
for section in template['sections']:
    section_scorer[section['code']] = section['scorer']
    for item in section['items']:
        item_max[item['code']] = item['max']
        item_section[item['code']] = section['code']
warnings = []
final = {}
for township in township_list:
    final[township] = {}


def take(township, code, score, source, unit):
    if township not in final:
        warnings.append(source + '：' + str(township) + ' 不在本期考评范围')
    elif code not in item_max:
        warnings.append(source + '：指标 ' + str(code) + ' 不存在')
    elif unit and section_scorer[item_section[code]] != unit:
        warnings.append(source + '：' + unit + ' 无权评分指标 ' + code)
    elif score is None or score < 0 or score > item_max[code]:
        warnings.append(source + '：' + str(township) + ' 指标 ' + code + ' 的得分超出 0～' + str(item_max[code]))
    else:
        final[township][code] = score


for i in range(len(township_list)):
    for row in self_results[i] or []:
        take(township_list[i], row['code'], row['score'], '自评', None)
for i in range(len(scoring_units)):
    for row in unit_results[i] or []:
        take(row['township'], row['code'], row['score'], '部门考评', scoring_units[i])
for row in field_scores or []:
    take(row['township'], row['code'], row['score'], '实地考评', None)
rules = {}
for rule in template['deductions']:
    rules[rule['code']] = rule
township_scores = []
for township in township_list:
    total = 0
    for section in template['sections']:
        got = sum([final[township].get(item['code'], 0) for item in section['items']])
        full = sum([item['max'] for item in section['items']])
        total = total + got * section['weight'] / full
    deducted = 0
    for code in rules:
        count = sum([row['count'] for row in deductions or [] if row['township'] == township and row['code'] == code])
        deducted = deducted + min(count * rules[code]['points'], rules[code]['cap'])
    vetoed = [row['code'] for row in vetoes or [] if row['township'] == township]
    township_scores.append({'township': township, 'score': round(total, 2), 'deducted': deducted,
                            'total': round(max(total - deducted, 0), 2), 'vetoed': len(vetoed) > 0, 'vetoes': vetoed})
score_warnings = '；'.join(warnings)
grades = []  # the grading loop collects into an empty list each time
""", lane=A, col=5)
    p.xgw("gw_stage", "已实地考评？", lane=A, col=6)
    p.xgw("m_field", lane=A, col=6, row=1)
    p.user("field_check", "实地考评", lane=A, col=5, row=1, props=up(due="workdays(10)"))
    p.script("mark_field", "登记实地考评", "field_checked = True", lane=A, col=4, row=1)
    p.rule("grade_townships", "评定等次", "assessment_grade", lane=A, col=7,
           mi=dict(input="township_scores", item="township_score", output="grades", output_item="grade"))
    p.script("rank", "排名", """
results = []
for i in range(len(township_scores)):
    row = dict(township_scores[i])
    row['grade'] = grades[i]
    results.append(row)
results = sorted(results, key=lambda row: -row['total'])
for i in range(len(results)):
    results[i]['rank'] = i + 1
""", lane=A, col=8)
    p.user("leader_review", "领导审议", lane=L, col=9, props=up(candidate_org="county_org", due="workdays(5)"))
    p.xgw("gw_review", "审议通过？", lane=L, col=10)
    p.user("publish", "公示", lane=A, col=11, props=up(due="workdays(2)"))
    p.script("open_window", "开始异议期", """
published_at = now()
objection_until = workdays(objection_workdays)
""", lane=A, col=12)
    p.xgw("m_window", lane=A, col=13)
    p.user("objection_intake", "公示期异议登记", lane=A, col=14)
    p.boundary("window_closed", "异议期满", "objection_intake", "timeDate", "objection_until", interrupting=True)
    p.user("objection_review", "异议复核", lane=L, col=15, props=up(candidate_org="county_org", due="workdays(3)"))
    p.script("note_objection", "登记异议结果", """
objections = objections + [{'township': objector, 'content': objection_content, 'upheld': upheld, 'reply': objection_reply}]
if upheld:
    field_scores = (field_scores or []) + (adjustments or [])
""", lane=A, col=16, row=1)
    p.xgw("gw_upheld", "异议成立？", lane=A, col=17, row=1)
    p.user("archive", "归档", lane=A, col=15, row=2, props=up(due="workdays(5)"))
    p.script("find_failing", "确定整改对象", """
failing_townships = [row['township'] for row in results if row['grade'] == '不合格']
""", lane=A, col=16, row=2)
    p.xgw("gw_failing", "有不合格？", lane=A, col=17, row=2)
    p.user("rectify_report", "报送整改报告", lane=D, col=18, props=up(candidate_org="failing_township", due="days(rectify_report_days)"),
           mi=dict(input="failing_townships", item="failing_township", output="rectify_reports", output_item="rectify_plan"))
    p.xgw("m_end", lane=A, col=19, row=2)
    p.end("end_archived", "考评归档", lane=A, col=20, row=2)

    p.chain("start", "prepare", "self_assess", "unit_score", "m_compute", "compute", "gw_stage")
    p.flow("gw_stage", "grade_townships", "field_checked == True", name="已考评")
    p.flow("gw_stage", "m_field", default=True, name="待实地考评")
    p.chain("m_field", "field_check", "mark_field", "m_compute")
    p.chain("grade_townships", "rank", "leader_review", "gw_review")
    p.flow("gw_review", "publish", "approved == True", name="通过")
    p.flow("gw_review", "m_field", default=True, name="重新核定")
    p.chain("publish", "open_window", "m_window", "objection_intake", "objection_review", "note_objection", "gw_upheld")
    p.flow("gw_upheld", "m_compute", "upheld == True", name="成立，重新汇总")
    p.flow("gw_upheld", "m_window", default=True, name="不成立")
    p.chain("window_closed", "archive", "find_failing", "gw_failing")
    p.flow("gw_failing", "rectify_report", "failing_townships", name="有")
    p.flow("gw_failing", "m_end", default=True, name="无")
    p.chain("rectify_report", "m_end", "end_archived")

    grade = Decision(
        "assessment_grade", "考评等次",
        inputs=[("一票否决", "township_score['vetoed']"), ("总分", "township_score['total']")],
        outputs=[("等次", "grade")],
        rules=[
            (["True", "-"], ["'不合格'"], "一票否决项：直接定为不合格"),
            (["-", ">= 90"], ["'优秀'"], ""),
            (["-", ">= 80"], ["'良好'"], ""),
            (["-", ">= 60"], ["'合格'"], ""),
            (["-", "-"], ["'不合格'"], ""),
        ])
    return p, [("assessment_grade", "考评等次", [grade])]


# ---------------------------------------------------------------------------------------------
# 6. 报表审核 report_review
# ---------------------------------------------------------------------------------------------

REPORT_FIELDS = ["disputes_total", "disputes_family", "disputes_neighbor", "disputes_land", "disputes_labor",
                 "disputes_other", "disputes_resolved", "events_reported", "events_closed", "petitions_total"]


def report_review() -> tuple[Process, list]:
    D = "调度员"
    p = Process("report_review", "报表审核", [D], documentation=(
        "报表报送审核：乡镇（街道）综治中心填报周期统计数据；提交时按流程配置中的规则自动校验"
        "（分项之和等于合计、不得为负数、部分不得大于总数、与上期相比变化过大须说明原因），不通过退回填报；"
        "县级审核通过或退回修改；逾期未报自动催报。"))
    p.start("start", "下发报表", lane=D, col=0)
    p.script("init", "确定基期和期限", """
baseline = {row['field']: row['value'] for row in last_period} if last_period else None
submit_due = workdays(submit_workdays)
check_round = 0
check_messages = ''
""", lane=D, col=1)
    p.xgw("m_fill", lane=D, col=2)
    p.user("fill", "填报", lane=D, col=3, props=up(due="submit_due"))
    p.boundary("fill_overdue", "逾期未报", "fill", "timeDate", "submit_due", interrupting=False,
               props={"urge": "'报表报送期限已到，请尽快填报'"})
    figures = ", ".join(f"'{name}': {name}" for name in REPORT_FIELDS)
    p.script("check", "自动校验", f"""
figures = {{{figures}}}
rules = report_rules
labels = rules['labels']
errors = []
for name in figures:
    if figures[name] is not None and figures[name] < 0:
        errors.append(labels.get(name, name) + '不能为负数')
for rule in rules['sums']:
    parts = sum([figures[part] or 0 for part in rule['parts']])
    if parts != (figures[rule['total']] or 0):
        errors.append(rule['label'] + '：分项合计 ' + str(parts) + ' 与合计 ' + str(figures[rule['total']]) + ' 不一致')
for rule in rules['not_greater']:
    if (figures[rule['part']] or 0) > (figures[rule['whole']] or 0):
        errors.append(rule['label'])
jumps = []
if baseline:
    for name in figures:
        before = baseline.get(name)
        if before is not None and before >= rules['jump_min_base'] and figures[name] is not None:
            change = (figures[name] - before) / before
            if abs(change) > rules['jump_ratio']:
                jumps.append({{'field': name, 'label': labels.get(name, name), 'last': before, 'now': figures[name],
                              'change': round(change * 100)}})
explained = [row['field'] for row in (jump_reasons or []) if row.get('reason')]
for jump in jumps:
    if jump['field'] not in explained:
        errors.append(jump['label'] + '较上期变化 ' + str(jump['change']) + '%，请说明原因')
check_round = check_round + 1
check_messages = '；'.join(errors)
check_passed = not errors
""", lane=D, col=4)
    p.xgw("gw_check", "校验通过？", lane=D, col=5)
    p.user("review", "县级审核", lane=D, col=6, props=up(candidate_org="county_org", due="workdays(review_workdays)"))
    p.xgw("gw_review", "审核结论？", lane=D, col=7)
    p.script("accept", "采用数据", """
accepted_at = now()
accepted_figures = figures
""", lane=D, col=8)
    p.end("end_accepted", "审核通过", lane=D, col=9)
    p.chain("start", "init", "m_fill", "fill", "check", "gw_check")
    p.flow("gw_check", "review", "check_passed == True", name="通过")
    p.flow("gw_check", "m_fill", default=True, name="退回填报")
    p.chain("review", "gw_review")
    p.flow("gw_review", "accept", "decision == '通过'", name="通过")
    p.flow("gw_review", "m_fill", default=True, name="退回修改")
    p.chain("accept", "end_accepted")
    return p, []


LIBRARY = {"mediation": mediation, "grid_event": grid_event, "supervision": supervision,
           "inspection": inspection, "assessment": assessment, "report_review": report_review}


def main(argv: list[str]) -> None:
    for key in argv or list(LIBRARY):
        process, dmns = LIBRARY[key]()
        (OUT / f"{key}.bpmn").write_text(process.to_xml(), encoding="utf-8")
        for dmn_key, dmn_name, decisions in dmns:
            (OUT / f"{dmn_key}.dmn").write_text(dmn_xml(dmn_key, dmn_name, decisions), encoding="utf-8")
        print(f"wrote processes/{key}.bpmn" + "".join(f", processes/{d[0]}.dmn" for d in dmns))


if __name__ == "__main__":
    main(sys.argv[1:])
