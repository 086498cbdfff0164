"""The platform's indicators as a process reads them: ``platform_indicators(org, start, end)`` in a script.

A script (an assessment round's pre-fill, say) asks for one org's figures over a period of whole
days and gets plain rows it can put on a form: the value as shown, and the business keys of the
cases behind it, so a township's claimed figure can be checked against the platform's. The rows
are computed by ``indicators`` (the board's own function) as the system, inside the org's subtree.
Read-only and bounded: a known org, a period of at most ``MAX_PERIOD_DAYS``, at most
``MAX_KEYS`` business keys listed per column (the rest counted).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import context_of
from ..errors import EngineError
from ..org.orgs import SYSTEM
from ..store.models import Instance, Org
from .indicators import Indicator, indicators

MAX_PERIOD_DAYS = 3 * 366 + 1
MAX_KEYS = 30
_EARLIEST, _LATEST = date(1970, 1, 1), date(9998, 12, 30)


def platform_figures(session: Session, org: str, start, end) -> list[dict]:
    """Return the indicator rows of org ``org`` (a code) from day ``start`` to day ``end``, both included."""
    path = session.scalar(select(Org.path).where(Org.code == str(org)))
    if path is None:
        raise EngineError(f"平台指标：组织编码 '{org}' 不存在", message_en=f"platform_indicators: no org '{org}'")
    first, last = _day(start, "起始日期"), _day(end, "截止日期")
    if last < first:
        raise EngineError(f"平台指标：截止日期 {last} 早于起始日期 {first}",
                          message_en=f"platform_indicators: the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise EngineError(f"平台指标：统计期间不能超过 {MAX_PERIOD_DAYS} 天",
                          message_en=f"platform_indicators: a period may span at most {MAX_PERIOD_DAYS} days")
    tz = context_of(session).calendar(session).tz
    # No case lies outside these days, so counting within them is exact, and the arithmetic stays in range.
    first, last = min(max(first, _EARLIEST), _LATEST), min(max(last, _EARLIEST), _LATEST)
    figures = indicators(session, actor=SYSTEM, org_path=path,
                         start=datetime.combine(first, time(), tz), end=datetime.combine(last + timedelta(days=1), time(), tz))
    keys = _business_keys(session, {i for f in figures.values() for i in f.case_ids})
    return [figure_row(f, keys) for f in figures.values()]


def figure_row(figure: Indicator, keys: dict[int, str]) -> dict:
    """Turn one indicator into a form row: value as shown, counted and other cases by business key."""
    counted = set(figure.numerator_case_ids)
    others = [i for i in figure.case_ids if i not in counted]
    value = figure.value
    if value is not None and float(value).is_integer():
        value = int(value)  # a form shows 50, not 50.0
    return {"key": figure.key, "label": figure.label, "unit": figure.unit, "value": value,
            "numerator": figure.numerator, "denominator": figure.denominator, "shown": shown(figure),
            "cases": _listed(figure.numerator_case_ids, keys), "other_cases": _listed(others, keys)}


def shown(figure: Indicator) -> str:
    """Write the figure as people read it: 85.7%（6/7）, 12.5 工作时（4 件）, 2 件, 无数据."""
    if figure.value is None:
        return "无数据"
    if figure.unit == "%":
        return f"{figure.value:g}%（{figure.numerator}/{figure.denominator}）"
    if figure.unit == "件":
        return f"{figure.numerator} 件（共 {figure.denominator} 件）"
    return f"{figure.value:g} {figure.unit}（{figure.denominator} 件）"


def _listed(ids: list[int], keys: dict[int, str]) -> str:
    names = [keys.get(i, str(i)) for i in ids[:MAX_KEYS]]
    more = f" 等 {len(ids)} 件" if len(ids) > MAX_KEYS else ""
    return "、".join(names) + more


def _business_keys(session: Session, ids: set[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    wanted = sorted(ids)
    for i in range(0, len(wanted), 1000):  # bounded IN lists
        out.update(session.execute(select(Instance.id, Instance.business_key)
                                   .where(Instance.id.in_(wanted[i:i + 1000]))).all())
    return out


def _day(value, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise EngineError(f"平台指标：{what} '{value}' 不是日期（例如 2026-01-01）",
                          message_en=f"platform_indicators: '{value}' is not a date") from None
