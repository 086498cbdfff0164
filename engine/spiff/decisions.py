"""Stand-alone DMN decision tables decided over plain facts, with SpiffWorkflow's own DMN engine.

Processes call their decisions from a business rule task; warning rules (engine/board) are
decision tables with no process around them. Both run every cell through the same sandboxed
script engine, so a cell that is refused in a process is refused here too.
"""
from __future__ import annotations

import ast
import builtins
import difflib
from dataclasses import dataclass
from types import SimpleNamespace

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from ..errors import DefinitionInvalid, EngineError, Problem
from .parser import NS, _problem_from, dmn_input_as_expression, element_lines, parse_xml


@dataclass(frozen=True)
class Cell:
    """One non-empty cell of a decision table, as the file has it."""

    kind: str          # input | entry | output
    code: str          # the Python expression it runs
    element_id: str
    line: int | None
    column: str = ""   # the output's name, for an output cell


@dataclass(frozen=True)
class DecisionTable:
    """A parsed stand-alone decision: its id and name, its outputs and every cell, ready to decide."""

    decision_id: str
    name: str
    hit_policy: str
    outputs: tuple[str, ...]
    cells: tuple[Cell, ...]
    rule_count: int
    table: object      # SpiffWorkflow's DecisionTable: stays inside engine/spiff

    def names_read(self) -> set[str]:
        """Return the fact names the input columns and input entries read."""
        found: set[str] = set()
        for cell in self.cells:
            if cell.kind == "output":
                continue
            try:
                tree = ast.parse(cell.code, mode="eval")
            except SyntaxError:
                continue
            found |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        return {n for n in found if n != "dmninputexpr" and not hasattr(builtins, n)}


def parse_decision(content: bytes, filename: str) -> DecisionTable:
    """Parse a DMN file holding one decision table; raise DefinitionInvalid with the file and line."""
    tree = parse_xml(content, filename)
    lines = element_lines(tree)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_dmn_xml(tree.getroot(), filename=filename)
        if len(parser.dmn_parsers) != 1:
            raise DefinitionInvalid(f"{filename} 应当只有一个决策", message_en=f"{filename} must hold exactly one decision",
                                    details=[Problem("DMN 文件应当只有一个决策表", "one decision table per file",
                                                     file=filename, line=1)])
        dmn_parser = next(iter(parser.dmn_parsers.values()))
        dmn_parser.parse()
        decision = dmn_parser.decision
    except (ValidationException, SpiffWorkflowException, ValueError, KeyError, SyntaxError) as exc:
        problem = _problem_from(exc, filename, lines)
        raise DefinitionInvalid("预警规则无效", message_en="The warning rule is invalid", details=[problem]) from exc
    table = decision.decisionTables[0] if decision.decisionTables else None
    if table is None:
        raise DefinitionInvalid("预警规则无效", message_en="The warning rule is invalid", details=[
            Problem("决策中没有决策表", "the decision has no decision table", file=filename, line=1)])
    return DecisionTable(decision_id=decision.id, name=decision.name or decision.id, hit_policy=table.hit_policy,
                         outputs=tuple(o.name or o.label for o in table.outputs), cells=tuple(_cells(tree, lines)),
                         rule_count=len(table.rules), table=table)


def _cells(tree, lines: dict[str, int]) -> list[Cell]:
    cells = []
    for el in tree.getroot().iterfind(".//dmn:input", NS):
        text = el.find("dmn:inputExpression/dmn:text", NS)
        if text is not None and (text.text or "").strip():
            cells.append(Cell("input", text.text.strip(), el.get("id") or "", text.sourceline))
    outputs = [el.get("name") or el.get("label") or "" for el in tree.getroot().iterfind(".//dmn:output", NS)]
    for rule in tree.getroot().iterfind(".//dmn:rule", NS):
        for tag, kind in (("inputEntry", "entry"), ("outputEntry", "output")):
            for index, el in enumerate(rule.iterfind(f"dmn:{tag}", NS)):
                text = el.find("dmn:text", NS)
                code = (text.text or "").strip() if text is not None else ""
                if code and code != "-":
                    column = outputs[index] if kind == "output" and index < len(outputs) else ""
                    cells.append(Cell(kind, dmn_input_as_expression(code) if kind == "entry" else code,
                                      el.get("id") or "", text.sourceline if text is not None else lines.get(el.get("id")),
                                      column))
    return cells


def unknown_names(table: DecisionTable, known: set[str], *, file: str) -> list[Problem]:
    """Return a problem, with a "did you mean", for each name a cell reads that the facts do not have."""
    problems = []
    for name in sorted(table.names_read() - known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        cell = next((c for c in table.cells if c.kind != "output" and name in c.code), None)
        problems.append(Problem(f"预警规则读取了未知的事实 '{name}'", f"the rule reads an unknown fact '{name}'",
                                file=file, line=cell.line if cell else None, element_id=cell.element_id if cell else None,
                                hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else
                                f"可用的事实：{', '.join(sorted(known))}"))
    return problems


def decide(table: DecisionTable, facts: dict, script_engine) -> dict | None:
    """Return the outputs of the first rule that matches ``facts`` (hit policy FIRST or UNIQUE), or None."""
    task = SimpleNamespace(data=dict(facts), workflow=SimpleNamespace(script_engine=script_engine))
    try:
        rules = DMNEngine(table.table).decide(task)
        return dict(rules[0].output_as_dict(task)) if rules else None
    except EngineError:
        raise
    except Exception as exc:  # a cell that fails on these facts: say which decision, in Chinese
        raise EngineError(f"预警规则 {table.decision_id} 计算出错：{exc}",
                          message_en=f"warning rule {table.decision_id} failed: {exc}") from exc


__all__ = ["Cell", "DecisionTable", "parse_decision", "unknown_names", "decide"]
