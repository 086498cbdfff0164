"""Warning rules (预警规则): DMN decision tables under ``processes/warnings/``, deployed and versioned like processes.

A rule file holds one decision whose id names what the engine counts for it (``repeat_dispute``,
``surge``, ``violence_no_visit``, ``red_card``). The engine works out the facts of every candidate;
the table decides whether a warning fires, at which level and with which message. A county changes
a threshold, a window or a level by editing the table and deploying it again: identical content is
a no-op, anything else is the rule's next version, in force from the next evaluation.

Some facts carry their own parameter in their name: ``disputes_within_30_days`` is counted over 30
days, ``weekly_average_8_weeks`` over 8 weeks, so the window too is in the file, not in code.
"""
from __future__ import annotations

import ast
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import clock
from ..errors import DefinitionInvalid, Problem
from ..spiff.decisions import DecisionTable, parse_decision, unknown_names
from ..spiff.sandbox import check_source
from .models import WarningLevel, WarningRule

RULES_FOLDER = "warnings"
REQUIRED_OUTPUTS = ("fire", "level", "message")
LEVELS = {"红色": WarningLevel.RED, "橙色": WarningLevel.ORANGE, "黄色": WarningLevel.YELLOW}
LEVEL_LABELS = {WarningLevel.RED: ("红色", "Red"), WarningLevel.ORANGE: ("橙色", "Orange"),
                WarningLevel.YELLOW: ("黄色", "Yellow")}


@dataclass(frozen=True)
class RuleKind:
    """What the engine can count for a rule: fixed fact names, and names with a parameter in them."""

    key: str
    name: str
    facts: frozenset[str]
    patterns: tuple[str, ...] = ()     # regular expressions with one (\d+) group

    def known(self, names: set[str]) -> set[str]:
        return {n for n in names if n in self.facts or any(re.fullmatch(p, n) for p in self.patterns)}

    def catalogue(self) -> set[str]:
        """Every name, parametrised ones shown with a sample parameter (for "did you mean")."""
        samples = {p.replace(r"(\d+)", "30") for p in self.patterns}
        return set(self.facts) | samples


KINDS = {k.key: k for k in (
    RuleKind("repeat_dispute", "重复纠纷", frozenset({"subject", "subject_kind"}), (r"disputes_within_(\d+)_days",)),
    RuleKind("surge", "纠纷激增", frozenset({"subject", "township", "new_this_week"}), (r"weekly_average_(\d+)_weeks",)),
    RuleKind("violence_no_visit", "暴力倾向未走访",
             frozenset({"subject", "visited", "days_since_visit", "dispute_type", "risk_level"})),
    RuleKind("red_card", "督办红牌", frozenset({"subject", "card", "days_overdue", "lead_unit", "source"})),
)}


@dataclass(frozen=True)
class RuleDeployResult:
    key: str
    version: int
    rule_id: int
    created: bool


@dataclass(frozen=True)
class LoadedRule:
    """A rule in force: its stored row's facts and its parsed table (shared, never changed)."""

    rule_id: int
    key: str
    version: int
    name: str
    kind: RuleKind
    table: DecisionTable

    def parameters(self, pattern: str) -> list[int]:
        """Return the numbers a parametrised fact is asked for with, e.g. [30] for disputes_within_30_days."""
        return sorted({int(m.group(1)) for n in self.table.names_read() if (m := re.fullmatch(pattern, n))})

    def reads(self) -> tuple[str, ...]:
        return tuple(sorted(self.table.names_read()))


def split_rule_paths(paths: list[Path | str]) -> tuple[list[Path], list[Path]]:
    """Separate warning rule files from process paths: ``(rule files, paths left for processes)``.

    A ``warnings`` folder, or a ``.dmn`` file inside one, is rules only; a repository or
    ``processes`` folder keeps its processes and also yields its ``warnings/*.dmn``.
    """
    rules: list[Path] = []
    rest: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.suffix.lower() == ".dmn" and path.parent.name == RULES_FOLDER:
            rules.append(path)
        elif path.is_dir() and path.name == RULES_FOLDER:
            rules.extend(sorted(path.glob("*.dmn")))
        else:
            rest.append(path)
            if path.is_dir():
                for folder in (path / RULES_FOLDER, path / "processes" / RULES_FOLDER):
                    if folder.is_dir():
                        rules.extend(sorted(folder.glob("*.dmn")))
    return list(dict.fromkeys(rules)), rest


def validate_rule(content: bytes, filename: str) -> DecisionTable:
    """Parse a rule file and check it against what the engine can count; raise DefinitionInvalid listing every problem."""
    table = parse_decision(content, filename)
    kind = KINDS.get(table.decision_id)
    problems: list[Problem] = []
    if kind is None:
        from difflib import get_close_matches

        close = get_close_matches(table.decision_id, list(KINDS), n=1)
        problems.append(Problem(
            f"未知的预警规则 '{table.decision_id}'：决策 id 应为 {', '.join(KINDS)} 之一",
            f"unknown warning rule '{table.decision_id}': the decision id must be one of {', '.join(KINDS)}",
            file=filename, line=1, element_id=table.decision_id,
            hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None))
    if table.hit_policy not in ("FIRST", "UNIQUE"):
        problems.append(Problem(f"命中策略应为 FIRST 或 UNIQUE，而不是 {table.hit_policy}",
                                f"hit policy must be FIRST or UNIQUE, not {table.hit_policy}", file=filename, line=1))
    for name in REQUIRED_OUTPUTS:
        if name not in table.outputs:
            problems.append(Problem(f"缺少输出列 '{name}'（fire 是否预警、level 等级、message 内容）",
                                    f"missing output '{name}'", file=filename, line=1))
    if kind is not None:
        problems.extend(unknown_names(table, kind.known(table.names_read()) | kind.catalogue(), file=filename))
    problems.extend(_output_problems(table, filename))
    # Every cell runs in the sandbox: what it would refuse at evaluation is refused at deployment.
    for cell in table.cells:
        for message in check_source(cell.code, "eval"):
            problems.append(Problem(f"单元格不能执行：{message}", f"the cell cannot run: {message}",
                                    file=filename, line=cell.line, element_id=cell.element_id))
    if table.rule_count == 0:
        problems.append(Problem("决策表没有规则", "the decision table has no rules", file=filename, line=1))
    if problems:
        raise DefinitionInvalid("预警规则未通过校验", message_en="The warning rule failed validation", details=problems)
    return table


def _output_problems(table: DecisionTable, filename: str) -> list[Problem]:
    # Outputs are constants, so one decision serves every candidate with the same facts; the
    # message names facts as {subject}, filled in per warning.
    problems = []
    for cell in (c for c in table.cells if c.kind == "output"):
        column = cell.column
        try:
            value = ast.literal_eval(cell.code)
        except (ValueError, SyntaxError):
            problems.append(Problem(f"输出单元格应为常量（如 '黄色'、True）：{cell.code}",
                                    f"an output cell must be a constant: {cell.code}",
                                    file=filename, line=cell.line, element_id=cell.element_id))
            continue
        if column == "level" and value not in LEVELS:
            problems.append(Problem(f"预警等级应为 {'、'.join(LEVELS)} 之一：{cell.code}",
                                    f"level must be one of {', '.join(LEVELS)}", file=filename, line=cell.line,
                                    element_id=cell.element_id))
        if column == "fire" and not isinstance(value, bool):
            problems.append(Problem(f"fire 应为 True 或 False：{cell.code}", "fire must be True or False",
                                    file=filename, line=cell.line, element_id=cell.element_id))
        if column == "message" and not isinstance(value, str):
            problems.append(Problem(f"预警内容应为文字：{cell.code}", "message must be text",
                                    file=filename, line=cell.line, element_id=cell.element_id))
    return problems


def deploy_rules(session: Session, *, files: list[Path], actor: str | None = None) -> list[RuleDeployResult]:
    """Validate every rule file, then store each as its rule's next version; identical content is a no-op."""
    parsed, problems, seen = [], [], {}
    for path in files:
        content = path.read_bytes()
        try:
            table = validate_rule(content, path.name)
        except DefinitionInvalid as exc:
            problems.extend(exc.details)
            continue
        if table.decision_id in seen:
            problems.append(Problem(f"预警规则 '{table.decision_id}' 在 {seen[table.decision_id]} 中已定义",
                                    f"warning rule '{table.decision_id}' is already defined in {seen[table.decision_id]}",
                                    file=path.name, line=1))
        seen[table.decision_id] = path.name
        parsed.append((path, content, table))
    if problems:
        raise DefinitionInvalid("预警规则未通过校验", message_en="The warning rules failed validation", details=problems)
    results = []
    for path, content, table in parsed:
        digest = hashlib.sha256(content).hexdigest()
        existing = session.scalar(select(WarningRule).where(WarningRule.key == table.decision_id,
                                                            WarningRule.content_hash == digest))
        if existing is not None:
            results.append(RuleDeployResult(existing.key, existing.version, existing.id, False))
            continue
        version = (session.scalar(select(func.max(WarningRule.version)).where(
            WarningRule.key == table.decision_id)) or 0) + 1
        row = WarningRule(key=table.decision_id, version=version, name=table.name, file=path.name,
                          content_hash=digest, source=content.decode("utf-8"), deployed_at=clock.now(),
                          deployed_by=actor)
        session.add(row)
        session.flush()
        results.append(RuleDeployResult(row.key, version, row.id, True))
    return results


_CACHE: dict[tuple[int, str], DecisionTable] = {}
_CACHE_LOCK = threading.Lock()


def rules_in_force(session: Session) -> list[LoadedRule]:
    """Return the latest version of every deployed warning rule, parsed once per stored version."""
    latest = (select(WarningRule.key, func.max(WarningRule.version).label("v"))
              .group_by(WarningRule.key).subquery())
    rows = session.execute(select(WarningRule.id, WarningRule.key, WarningRule.version, WarningRule.name,
                                  WarningRule.content_hash)
                           .join(latest, (WarningRule.key == latest.c.key) & (WarningRule.version == latest.c.v))
                           .order_by(WarningRule.key)).all()
    out = []
    for rule_id, key, version, name, digest in rows:
        kind = KINDS.get(key)
        if kind is None:
            continue
        with _CACHE_LOCK:
            table = _CACHE.get((rule_id, digest))
        if table is None:
            source = session.scalar(select(WarningRule.source).where(WarningRule.id == rule_id))
            table = parse_decision(source.encode("utf-8"), f"{key}.dmn")
            with _CACHE_LOCK:
                table = _CACHE.setdefault((rule_id, digest), table)
        out.append(LoadedRule(rule_id, key, version, name, kind, table))
    return out


def list_rules(session: Session) -> list[WarningRule]:
    """Return every deployed version of every rule, newest first per key."""
    return list(session.scalars(select(WarningRule).order_by(WarningRule.key, WarningRule.version.desc())))


__all__ = ["KINDS", "LEVELS", "LEVEL_LABELS", "RuleKind", "RuleDeployResult", "LoadedRule", "split_rule_paths",
           "validate_rule", "deploy_rules", "rules_in_force", "list_rules", "RULES_FOLDER"]
