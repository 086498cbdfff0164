"""Printable documents filled from case data: 调解协议书 and 整改通知书.

The templates are tolerant: each item is looked up under a few field names (the first one present
wins) and left blank for handwriting when none is. docs/user-guide.md lists the names.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from engine.cases import case_file, personal_data
from engine.org import orgs

from .. import db

DOCUMENTS = {
    "mediation_agreement": ("人民调解协议书", "print/mediation_agreement.html"),
    "rectification_notice": ("整改通知书", "print/rectification_notice.html"),
}

# item -> field names tried in order
MEDIATION_FIELDS = {
    "parties": ("parties",),
    "facts": ("facts", "dispute_facts", "dispute_summary", "case_summary", "description"),
    "matters": ("disputed_matters", "dispute_matters", "dispute_issues", "issues"),
    "responsibility": ("responsibilities", "responsibility", "liability"),
    "terms": ("agreement_terms", "agreement", "agreement_content", "terms"),
    "manner": ("performance_manner", "performance_method", "performance_way"),
    "deadline": ("performance_deadline", "performance_due", "performance_date"),
    "place": ("village", "township"),
    "mediator": ("lead_mediator", "mediator", "mediators", "assigned_mediator"),
    "committee": ("committee_name", "mediation_committee"),
    "date": ("signed_date", "agreement_date", "mediation_date"),
}
NOTICE_FIELDS = {
    "number": ("notice_no", "notice_number"),
    "unit": ("target_unit", "inspected_unit", "rectify_unit", "responsible_unit", "unit", "inspected_org"),
    "inspection_date": ("inspection_date", "inspected_at", "check_date"),
    "findings": ("findings", "problems", "issues_found", "problem_list"),
    "requirements": ("rectify_requirements", "rectification_requirements", "requirements", "rectify_measures"),
    "deadline": ("rectify_deadline", "rectification_deadline", "deadline"),
    "issuer": ("issuer_org", "issuing_org"),
    "inspector": ("inspector", "inspectors"),
    "contact": ("contact_phone", "contact"),
    "date": ("notice_date", "issued_date"),
}


def pick(data: dict, names: tuple[str, ...]):
    """Return the first non-empty value among ``names``."""
    for name in names:
        value = data.get(name)
        if value not in (None, "", []):
            return value
    return None


def _person(session, value) -> str:
    usernames = [str(u) for u in (value if isinstance(value, list) else [value])]
    names = orgs.user_names(session, usernames=usernames)
    return "、".join(names.get(u, u) for u in usernames)


def _org(session, value) -> str:
    return orgs.org_names(session, codes=[str(value)]).get(str(value), str(value))


def _date(value) -> str:
    """Write a date the way an official document does: 2026年3月2日."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value)[:19]) if not isinstance(value, datetime) else value
    except ValueError:
        return str(value)
    return f"{moment.year}年{moment.month}月{moment.day}日"


def documents_for_form(form) -> list[tuple[str, str]]:
    """The printouts a task's form fills in (协议书 for the form with the agreed terms), as (key, title)."""
    names = {f.name for f in form.editable_fields()}
    fills = {"mediation_agreement": MEDIATION_FIELDS["terms"],
             "rectification_notice": NOTICE_FIELDS["requirements"] + NOTICE_FIELDS["findings"]}
    return [(key, DOCUMENTS[key][0]) for key, fields in fills.items() if names & set(fields)]


def document_context(session, view: case_file.CaseView, *, draft: dict | None = None) -> dict:
    """Everything both printouts need, personal data masked unless the reader may see it.

    ``draft`` (what was saved of the task that fills the document in) goes over the case data, so the
    document can be printed for signing before the task is submitted.
    """
    instance = view.instance
    data = dict(instance.data or {}) | {k: v for k, v in (draft or {}).items() if not k.startswith("_")}
    if not view.full_data:
        paths = personal_data.sensitive_paths(instance.definition)
        for path in paths:
            if "[*]." in path:
                table, column = path.split("[*].")
                data[table] = [{**r, column: personal_data.mask(r.get(column))} if isinstance(r, dict) and r.get(column) else r
                               for r in data.get(table) or []]
            elif data.get(path):
                data[path] = personal_data.mask(data[path])
    zone = ZoneInfo(db.services().settings.timezone)
    today = datetime.now(zone)
    med = {k: pick(data, names) for k, names in MEDIATION_FIELDS.items()}
    med["mediator"] = _person(session, med["mediator"]) if med["mediator"] else ""
    place = _org(session, med.pop("place")) if med.get("place") else instance.org.name
    med["committee"] = med["committee"] or f"{place}人民调解委员会"
    # Terms as a table (content, obligor, manner, deadline) read as numbered clauses.
    if isinstance(med["terms"], list):
        med["term_rows"] = [r for r in med["terms"] if isinstance(r, dict)]
        med["terms"] = None
    med["date"] = _date(med["date"] or instance.ended_at or today)
    med["deadline"] = _date(med["deadline"]) if med["deadline"] else ""
    parties = med["parties"] if isinstance(med["parties"], list) else []
    if not parties:
        parties = [p for p in (_party(data, "applicant"), _party(data, "respondent")) if p]
    med["parties"] = parties
    notice = {k: pick(data, names) for k, names in NOTICE_FIELDS.items()}
    notice["number"] = notice["number"] or instance.business_key
    notice["unit"] = _org(session, notice["unit"]) if notice["unit"] else ""
    notice["issuer"] = _org(session, notice["issuer"]) if notice["issuer"] else instance.org.name
    notice["inspector"] = _person(session, notice["inspector"]) if notice["inspector"] else ""
    notice["inspection_date"] = _date(notice["inspection_date"])
    notice["deadline"] = _date(notice["deadline"])
    notice["date"] = _date(notice["date"] or today)
    return {"instance": instance, "m": med, "n": notice, "copies": max(len(parties), 2) + 1}


def _party(data: dict, prefix: str) -> dict | None:
    """A party described by flat fields such as ``applicant_name`` and ``applicant_phone``."""
    keys = ("name", "gender", "age", "ethnicity", "id_number", "phone", "address", "occupation")
    row = {k: data.get(f"{prefix}_{k}") for k in keys}
    if not row["name"]:
        return None
    row["role"] = "申请人" if prefix == "applicant" else "被申请人"
    return row
