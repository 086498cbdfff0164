"""Convert decision tables from Camunda Modeler and dmn-js (DMN 1.1–1.3, FEEL) to the Python cells Pingan runs.

Pingan decides with SpiffWorkflow's DMN engine: one decision table per file, DMN 1.3, every cell a
Python expression (an input entry may start with a comparison or use ``?`` for the input value).
FEEL cells become Python through imported_expressions, variable names are spelled as the BPMN
import spells them (``guestCount`` → ``guest_count``), and what has no Python spelling is refused
by element. A file already written that way (Pingan's own, an export) goes through unchanged.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

from lxml import etree

from ..errors import Problem
from ..spiff.parser import NS
from .import_common import Imported, parse_or_report
from .imported_expressions import INPUT_VALUE, NotConvertible, feel_expression, feel_unary_tests, snake, to_python

DMN13 = NS["dmn"]
OLD_DMN = ("http://www.omg.org/spec/DMN/20151101/dmn.xsd", "http://www.omg.org/spec/DMN/20180521/MODEL/",
           "https://www.omg.org/spec/DMN/20211108/MODEL/", "https://www.omg.org/spec/DMN/20230324/MODEL/")
DMNDI13 = "https://www.omg.org/spec/DMN/20191111/DMNDI/"
OLD_DMNDI = ("http://www.omg.org/spec/DMN/20180521/DMNDI/", "https://www.omg.org/spec/DMN/20211108/DMNDI/",
             "https://www.omg.org/spec/DMN/20230324/DMNDI/")
# Camunda 7's and 8's DMN extension attributes (history, version tags, the cell's input variable), the modeler's marks.
FOREIGN_DMN = ("http://camunda.org/schema/1.0/dmn", "http://camunda.org/schema/modeler/1.0",
               "http://operaton.org/schema/1.0/dmn")
_FEEL_LANGUAGES = {"feel", "https://www.omg.org/spec/DMN/20191111/FEEL/", "http://www.omg.org/spec/FEEL/20140401",
                   "https://www.omg.org/spec/FEEL/20140401", "http://www.omg.org/spec/DMN/20180521/FEEL/"}
_KIND_ZH = {"decision": "决策", "decisionTable": "决策表", "input": "输入列", "output": "输出列",
            "inputEntry": "输入条件", "outputEntry": "输出", "rule": "规则", "definitions": "决策文件"}
# SpiffWorkflow answers the first matching rule for these; COLLECT answers every match as a list per output.
_FIRST_LIKE = {"UNIQUE", "FIRST", "ANY"}


def _file_part(text: str) -> str:
    return re.sub(r"[^\w\-]", "_", text or "")[:100]


def _remove(el) -> None:
    """Remove an element keeping the indentation of what follows it."""
    before = el.getprevious()
    if before is not None:
        before.tail = el.tail
    else:
        el.getparent().text = el.tail
    el.getparent().remove(el)


def _copy_into(parent, el) -> None:
    """Copy ``el`` under ``parent`` so it takes the parent's prefixes (DMN 1.3 as the default namespace)."""
    if isinstance(el.tag, str):
        copy = etree.SubElement(parent, el.tag, attrib=dict(el.attrib))
        copy.text = el.text
        for child in el:
            _copy_into(copy, child)
    else:
        copy = etree.Comment(el.text) if isinstance(el, etree._Comment) else None
        if copy is None:
            return
        parent.append(copy)
    copy.tail = el.tail
    copy.sourceline = el.sourceline


def is_dmn(root) -> bool:
    return (etree.QName(root).namespace or "") in (DMN13, *OLD_DMN)


class DmnImport:
    """One DMN file's conversion: namespace, hit policy, columns and cells, one decision per file."""

    def __init__(self, path: str, text: str, out: Imported):
        self.path, self.text, self.out = path, text, out
        stem = re.sub(r"[^\w\-]", "_", PurePosixPath(path).stem)[:100] or "decision"
        self.file = f"processes/{stem}.dmn"
        self.names: dict[str, str] = {}  # FEEL name -> Python name, for the BPMN conditions that read the outputs
        self.input_variables: dict[str, str] = {}  # input column id -> camunda:inputVariable

    def refuse(self, el, zh: str, en: str, hint: str | None = None, *, file: str | None = None) -> None:
        label_zh, label_en = self._label(el)
        self.out.problems.append(Problem(f"{label_zh}：{zh}", f"{label_en}: {en}", file=file or self.file,
                                         line=el.sourceline, element_id=el.get("id"), hint=hint))

    def change(self, el, zh: str, en: str, *, file: str | None = None) -> None:
        label_zh, label_en = self._label(el)
        self.out.changes.append(f"{file or self.file}: {label_zh}：{zh} ({label_en}: {en})")

    @staticmethod
    def _label(el) -> tuple[str, str]:
        kind = etree.QName(el).localname
        shown = (el.get("label"), el.get("name")) if kind in ("input", "output") else (el.get("name"), el.get("label"))
        name = " ".join((shown[0] or shown[1] or "").split())
        zh = f"{_KIND_ZH.get(kind, '元素')} '{name}'（{el.get('id')}）" if name else f"{_KIND_ZH.get(kind, '元素')} {el.get('id')}"
        en = f"{kind} '{name}' ({el.get('id')})" if name else f"{kind} {el.get('id')}"
        return zh, en

    # -- the conversion ----------------------------------------------------------------------

    def run(self) -> None:
        tree = parse_or_report(self.text, self.path, self.out.problems)
        if tree is None:
            return
        root = tree.getroot()
        if not is_dmn(root):
            self.out.problems.append(Problem(
                f"{self.path} 不是平安能读的 DMN 文件（根元素 <{etree.QName(root).localname}> 的命名空间不是 DMN 1.1–1.5）",
                f"{self.path} is not a DMN file Pingan reads (its root is not in a DMN 1.1–1.5 namespace)",
                file=self.path, line=root.sourceline))
            return
        if not self._foreign(tree):
            self.out.files.setdefault(self.file, self.text)  # Pingan's own: byte for byte, no new version
            return
        root = self._dmn13(tree)
        decisions = list(root.iterfind("dmn:decision", NS))
        if not decisions:
            self.refuse(root, "文件里没有决策", "the file holds no decision")
            return
        for decision in decisions:
            self._decision(decision)
        if len(decisions) == 1:
            self._write(tree, self.file)
            return
        # SpiffWorkflow reads one decision per file: each decision gets its own file, named after it.
        stem = PurePosixPath(self.file).stem
        for decision in decisions:
            path = f"processes/{stem}_{_file_part(decision.get('id'))}.dmn"
            single = etree.ElementTree(etree.fromstring(etree.tostring(root)))
            for other in list(single.getroot()):
                if isinstance(other.tag, str) and etree.QName(other).localname in ("decision", "DMNDI") \
                        and other.get("id") != decision.get("id"):
                    single.getroot().remove(other)
            self._write(single, path)
            self.change(decision, f"文件中有 {len(decisions)} 个决策，本决策单独成文件 {path}（平安每个文件一个决策）",
                        f"the file holds {len(decisions)} decisions; this one is written to {path} (one decision per file)")

    def _write(self, tree, path: str) -> None:
        xml = etree.tostring(tree, xml_declaration=True, encoding="UTF-8").decode("utf-8")
        self.out.files[path] = xml if xml.endswith("\n") else xml + "\n"

    def _foreign(self, tree) -> bool:
        """Tell whether the file was written by another tool: another DMN version, Camunda's marks or FEEL cells."""
        root = tree.getroot()
        if etree.QName(root).namespace != DMN13:
            return True
        if any(ns in FOREIGN_DMN for el in root.iter() if isinstance(el.tag, str) for ns in el.nsmap.values()):
            return True
        if re.search(r"camunda|dmn-js|bpmn\.io|signavio|trisotech", root.get("exporter") or "", re.I):
            return True
        for el in root.iter():
            if isinstance(el.tag, str) and (el.get("expressionLanguage") or "").lower() not in ("", "python"):
                return True
        for text in root.iterfind(".//dmn:rule/*/dmn:text", NS):
            cell = (text.text or "").strip()
            masked = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', cell)
            if cell in ("true", "false", "null") or ".." in masked or re.match(r"not\s*\(", cell) \
                    or (etree.QName(text.getparent()).localname == "inputEntry" and "," in masked
                        and not masked.startswith(("(", "["))):
                return True
        return False

    def _dmn13(self, tree):
        """Move every element to DMN 1.3's namespace and drop Camunda's attributes; return the new root."""
        root = tree.getroot()
        old = etree.QName(root).namespace
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            q = etree.QName(el)
            if q.namespace in OLD_DMN:
                el.tag = f"{{{DMN13}}}{q.localname}"
            elif q.namespace in OLD_DMNDI:
                el.tag = f"{{{DMNDI13}}}{q.localname}"
            for attr in list(el.attrib):
                qa = etree.QName(attr)
                if qa.namespace in FOREIGN_DMN:
                    if qa.localname == "inputVariable":
                        self.input_variables[el.get("id")] = el.get(attr)
                    del el.attrib[attr]
                    if qa.localname != "inputVariable" and el.get("id") and el is not root:
                        self.change(el, f"去掉 camunda:{qa.localname}（平安没有对应的设置）",
                                    f"dropped camunda:{qa.localname} (Pingan has no such setting)")
        nsmap = {k: v for k, v in root.nsmap.items() if v not in (*OLD_DMN, *OLD_DMNDI, *FOREIGN_DMN)}
        nsmap[None] = DMN13
        if any(etree.QName(el).namespace == DMNDI13 for el in root.iter() if isinstance(el.tag, str)):
            nsmap["dmndi"] = DMNDI13
        new = etree.Element(f"{{{DMN13}}}definitions", attrib=dict(root.attrib), nsmap=nsmap)
        new.text = root.text
        for child in root:
            _copy_into(new, child)
        new.set("exporter", "pingan import")
        new.attrib.pop("exporterVersion", None)
        new.attrib.pop("expressionLanguage", None)
        tree._setroot(new)
        if old != DMN13:
            self.change(new, f"DMN 命名空间 {old} 改为 DMN 1.3（{DMN13}）", f"DMN namespace {old} changed to DMN 1.3")
        return new

    def _decision(self, decision) -> None:
        requires = [r.get("href", "").lstrip("#") for r in decision.iterfind("dmn:informationRequirement/dmn:requiredDecision", NS)]
        if requires:
            self.refuse(decision, "依赖其他决策的结果（" + "、".join(requires) + "）；平安的决策表不能调用其他决策",
                        "requires the result of other decisions (" + ", ".join(requires) + "); Pingan's decision "
                        "tables do not call other decisions",
                        hint="在流程里先用一个业务规则任务算出那个决策，再用这个决策表读取它的输出 (decide the required one in "
                        "a business rule task before, and read its output here)")
        if decision.find("dmn:knowledgeRequirement", NS) is not None:
            self.refuse(decision, "调用业务知识模型，平安不支持", "invokes a business knowledge model, which Pingan does not run")
        tables = decision.findall("dmn:decisionTable", NS)
        if not tables:
            kind = next((etree.QName(c).localname for c in decision if isinstance(c.tag, str)
                         and etree.QName(c).localname not in ("description", "question", "allowedAnswers", "variable",
                                                               "informationRequirement", "knowledgeRequirement",
                                                               "authorityRequirement", "extensionElements")), "")
            self.refuse(decision, f"不是决策表（{kind or '空'}）；平安只运行决策表",
                        f"is not a decision table ({kind or 'empty'}); Pingan runs decision tables only",
                        hint="在 Camunda Modeler 里改为决策表，或把这个表达式写进脚本任务 (make it a decision table, or "
                        "put the expression in a script task)")
            return
        for table in tables:
            self._table(decision, table)

    def _table(self, decision, table) -> None:
        policy = (table.get("hitPolicy") or "UNIQUE").upper()
        aggregation = table.get("aggregation")
        if policy == "COLLECT" and aggregation:
            self.refuse(table, f"命中策略 COLLECT 带汇总 {aggregation}；平安的决策表不做汇总",
                        f"hit policy COLLECT with the aggregation {aggregation}; Pingan's decision tables do not aggregate",
                        hint="去掉汇总（COLLECT 得到每个输出的列表），在后面的脚本任务里用 sum()/min()/max()/len() 计算 "
                        "(drop the aggregation: COLLECT gives a list per output; compute sum()/min()/max()/len() in "
                        "a script task after)")
        elif policy in ("PRIORITY", "OUTPUT ORDER"):
            self.refuse(table, f"命中策略 {policy} 按输出值的优先级排序，平安不支持",
                        f"hit policy {policy} orders by the priority of output values, which Pingan does not support",
                        hint="改为 FIRST，并把规则按优先级从高到低排列 (use FIRST with the rules in priority order)")
        elif policy == "RULE ORDER":
            table.set("hitPolicy", "COLLECT")
            self.change(table, "命中策略 RULE ORDER 改为 COLLECT：所有命中的规则按顺序，每个输出是一个列表",
                        "hit policy RULE ORDER became COLLECT: every matching rule in order, each output a list")
        elif policy == "COLLECT":
            self.change(table, "命中策略 COLLECT：每个输出是命中规则的值的列表", "hit policy COLLECT: each output is a list")
        elif policy == "ANY":
            table.set("hitPolicy", "FIRST")
            self.change(table, "命中策略 ANY 改为 FIRST（命中的规则输出相同，取第一条）",
                        "hit policy ANY became FIRST (the matching rules agree; the first one answers)")
        elif policy not in _FIRST_LIKE:
            self.refuse(table, f"命中策略 {policy} 平安不认识", f"unknown hit policy {policy}")
        for el in list(table):
            # SpiffWorkflow reads only inputs, outputs and rules here; allowed values are the modeler's hints.
            if not isinstance(el.tag, str) or etree.QName(el).localname not in ("input", "output", "rule"):
                _remove(el)
        for el in [*table.iterfind("dmn:*/dmn:inputValues", NS), *table.iterfind("dmn:*/dmn:outputValues", NS)]:
            _remove(el)
        inputs = table.findall("dmn:input", NS)
        variables = []
        for column in inputs:
            variables.append(self.input_variables.get(column.get("id")) or "cellInput")
            self._input_column(column)
        columns = []
        for column in table.iterfind("dmn:output", NS):
            original = column.get("name") or ""
            self._output_column(column)
            columns.append((original, column.get("name") or ""))
        self.out.decisions[decision.get("id")] = ((table.get("hitPolicy") or "UNIQUE").upper(), columns)
        converted = 0
        outputs = table.findall("dmn:output", NS)
        for rule in table.iterfind("dmn:rule", NS):
            for index, entry in enumerate(rule.iterfind("dmn:inputEntry", NS)):
                variable = variables[index] if index < len(variables) else "cellInput"
                converted += self._cell(rule, entry, inputs[index] if index < len(inputs) else None,
                                        lambda t, v=variable: feel_unary_tests(t, input_variable=v))
            for index, entry in enumerate(rule.iterfind("dmn:outputEntry", NS)):
                converted += self._cell(rule, entry, outputs[index] if index < len(outputs) else None,
                                        feel_expression, empty="None")
        if converted:
            self.change(decision, f"{converted} 个单元格由 FEEL 改写为 Python", f"{converted} cells rewritten from FEEL to Python")

    def _language(self, el) -> str:
        language = (el.get("expressionLanguage") or "feel").strip()
        el.attrib.pop("expressionLanguage", None)
        return "feel" if language.lower() in _FEEL_LANGUAGES else language.lower()

    def _input_column(self, column) -> None:
        expression = column.find("dmn:inputExpression", NS)
        text = expression.find("dmn:text", NS) if expression is not None else None
        if text is None or not (text.text or "").strip():
            self.refuse(column, "输入列没有输入表达式", "the input column has no input expression",
                        hint="写出这一列读取的字段，例如 amount (name the field the column reads, e.g. amount)")
            return
        language = self._language(expression)
        try:
            code = self._expression(text.text, language, feel_expression)
        except NotConvertible as exc:
            self.refuse(column, exc.zh, exc.en)
            return
        if code != text.text.strip():
            text.text = code

    def _output_column(self, column) -> None:
        name = (column.get("name") or "").strip()
        if not name:
            self.refuse(column, "输出列没有名称；平安把输出列的名称作为案件数据的字段",
                        "the output column has no name; Pingan writes each output under its name in the case data",
                        hint="在输出列上填写名称，例如 risk_level (give the output column a name, e.g. risk_level)")
            return
        python = snake(name)
        if python != name:
            column.set("name", python)
            self.names[name] = python
            self.change(column, f"输出名 {name} 改为 {python}（与导入的条件写法一致）",
                        f"output name {name} changed to {python} (as the imported conditions spell it)")

    def _cell(self, rule, entry, column, convert, *, empty: str = "-") -> int:
        text = entry.find("dmn:text", NS)
        if text is None:
            text = etree.SubElement(entry, f"{{{DMN13}}}text")
        raw = (text.text or "").strip()
        language = self._language(entry)
        if not raw:
            text.text = empty
            return 0
        try:
            code = self._expression(raw, language, convert)
        except NotConvertible as exc:
            # Named by its rule, as the validator names a cell: one problem per cell, whoever finds it.
            zh, en = self._label(column) if column is not None else ("", "")
            self.refuse(rule, f"{zh} 的单元格 {entry.get('id')}：{exc.zh}", f"{en}, cell {entry.get('id')}: {exc.en}")
            return 0
        if code == raw:
            return 0
        text.text = code
        return 1

    @staticmethod
    def _expression(raw: str, language: str, convert) -> str:
        if language == "feel":
            return convert(raw)
        if language == "python":
            return raw.strip()
        if language == "juel":
            # Camunda 7's JUEL input entries test ``cellInput``: the column's value, '?' in Pingan's cells.
            code = to_python(re.sub(r"\bcellInput\b", INPUT_VALUE,
                                    raw if raw.strip().startswith(("${", "#{")) else "${" + raw + "}"))
            return code.replace(INPUT_VALUE, "?")
        raise NotConvertible(f"表达式语言 {language} 平安不运行（只转换 FEEL 和简单的 JUEL）",
                             f"the expression language {language} does not run in Pingan (FEEL and simple JUEL are converted)")
