"""Pingan's own checks on a parsed process, beyond what BPMN and SpiffWorkflow check."""
from __future__ import annotations

import ast
import builtins
import difflib

from ..errors import Problem
from ..org.orgs import ROLES, role_for_lane
from ..spiff.parser import ParsedProcess, check_timer_literal
from ..spiff.sandbox import REFUSED_NAMES, SANDBOX_NAMES, check_source
from .scripting import HELPER_NAMES

_ALWAYS_KNOWN = HELPER_NAMES | set(dir(builtins)) | {"True", "False", "None", "dmninputexpr"}
# What a script finds in the sandbox without any task data (print() is rewritten, not a builtin).
_SANDBOX_KNOWN = (SANDBOX_NAMES | HELPER_NAMES | {"print", "dmninputexpr"}) - REFUSED_NAMES


def lint_process(proc: ParsedProcess, *, forms: dict, form_files: dict[str, str], config: dict) -> list[Problem]:
    """Return every problem found in one process, its forms and its config."""
    problems: list[Problem] = []
    main_file = sorted(proc.files)[0]
    problems += _lint_user_tasks(proc, forms, main_file)
    problems += _lint_forms_have_tasks(proc, forms, form_files)
    problems += _lint_expressions(proc)
    problems += _lint_condition_names(proc, forms, config)
    problems += _lint_unknown_names(proc, forms, config)
    return problems


def form_key_for(proc_key: str, element_id: str, form_key: str | None) -> str:
    """Return the form key a user task uses: ``formKey`` property or ``<process>/<task id>``."""
    if not form_key:
        return f"{proc_key}/{element_id}"
    return form_key if "/" in form_key else f"{proc_key}/{form_key}"


def _lint_user_tasks(proc: ParsedProcess, forms: dict, file: str) -> list[Problem]:
    problems = []
    for info in proc.user_tasks.values():
        where = dict(file=file, line=info.line, element_id=info.element_id)
        if not info.lane:
            problems.append(Problem(f"用户任务 '{info.name}' 不在任何泳道中：泳道名即办理角色",
                                    f"user task '{info.name}' is in no lane; the lane names the role", **where))
        elif role_for_lane(info.lane) is None:
            close = difflib.get_close_matches(info.lane, list(ROLES) + list(ROLES.values()), n=1)
            problems.append(Problem(f"泳道 '{info.lane}' 不是已知角色", f"lane '{info.lane}' is not a known role",
                                    hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else
                                    "可用角色：" + "、".join(f"{v}({k})" for k, v in ROLES.items()), **where))
        key = form_key_for(proc.key, info.element_id, info.form_key)
        if key not in forms:
            close = difflib.get_close_matches(key, list(forms), n=1)
            problems.append(Problem(f"用户任务 '{info.name}' 的表单 forms/{key}.yaml 不存在",
                                    f"form forms/{key}.yaml for user task '{info.name}' does not exist",
                                    hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None, **where))
        for prop in ("candidateOrg", "dueDate", "warnAt"):
            code = info.properties.get(prop)
            for message in check_source(code, "eval") if code else []:
                problems.append(Problem(f"属性 {prop} 的表达式无法编译：{message}",
                                        f"expression of property {prop} does not compile: {message}", **where))
    return problems


def _lint_forms_have_tasks(proc: ParsedProcess, forms: dict, form_files: dict) -> list[Problem]:
    used = {form_key_for(proc.key, t.element_id, t.form_key) for t in proc.user_tasks.values()}
    used.add(f"{proc.key}/start")
    return [Problem(f"表单 {key} 没有对应的用户任务", f"form {key} has no user task",
                    file=form_files.get(key), line=1)
            for key in sorted(set(forms) - used)]


def _lint_expressions(proc: ParsedProcess) -> list[Problem]:
    problems = []
    for expr in proc.expressions:
        where = dict(file=expr.file, line=expr.line, element_id=expr.element_id)
        for message in check_source(expr.code, expr.mode):
            problems.append(Problem(f"{_KIND_ZH.get(expr.kind.split(':')[0], expr.kind)}无法在沙箱中编译：{message}",
                                    f"{expr.kind} does not compile in the sandbox: {message}", **where))
        if expr.kind.startswith("timer:"):
            problems += _lint_timer(expr, where)
            if "workday_cycle" in expr.code and (expr.kind != "timer:timeCycle" or expr.element_id in _start_events(proc)):
                problems.append(Problem(
                    "workday_cycle（按工作日的周期）只能写在边界定时器或中间定时器的“周期”（timeCycle）里",
                    "workday_cycle belongs in the timeCycle of a boundary or intermediate timer",
                    hint="开始事件按自然时间定时，例如 'R/2026-01-05T09:00:00+08:00/P1D'", **where))
    return problems


def _start_events(proc: ParsedProcess) -> set[str]:
    specs = [proc.spec, *proc.subprocess_specs.values()]
    return {ts.bpmn_id for spec in specs for ts in spec.task_specs.values()
            if type(ts).__name__.endswith("StartEvent") and getattr(ts, "bpmn_id", None)}


_KIND_ZH = {"condition": "条件表达式", "script": "脚本", "prescript": "前置脚本", "postscript": "后置脚本",
            "timer": "定时器表达式", "dmn": "决策表单元格", "dmn_input": "决策表输入条件"}


def _lint_timer(expr, where: dict) -> list[Problem]:
    try:
        node = ast.parse(expr.code, mode="eval").body
    except SyntaxError:
        return []  # already reported by the compile check
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        error = check_timer_literal(expr.kind.split(":")[1], node.value)
        if error:
            return [Problem(f"定时器值 '{node.value}' 不是有效的 ISO 8601 时间：{error}",
                            f"timer value '{node.value}' is not valid ISO 8601: {error}",
                            hint="时长写作 \"'P3D'\"（含引号），工作日写作 workdays(5)，每个工作日9点写作 workday_cycle('09:00')",
                            **where)]
        return []
    if isinstance(node, ast.Constant):
        return [Problem("定时器表达式应得到字符串（ISO 8601），例如 'PT2H' 或 workdays(5)",
                        "a timer expression must yield an ISO 8601 string, e.g. 'PT2H' or workdays(5)", **where)]
    return []


def _data_names(proc: ParsedProcess, forms: dict, config: dict) -> set[str]:
    """Names task data can hold: form fields, config variables, script results, DMN outputs, payloads."""
    known = proc.data_names | set(config.get("variables") or [])
    for form in forms.values():
        known |= form.field_names()
    for expr in proc.expressions:
        if expr.mode == "exec":
            known |= _assigned_names(expr.code)
    return known


def _lint_condition_names(proc: ParsedProcess, forms: dict, config: dict) -> list[Problem]:
    known = set(_ALWAYS_KNOWN) | _data_names(proc, forms, config)
    problems = []
    for expr in proc.expressions:
        if expr.kind != "condition":
            continue
        for name in sorted(_loaded_names(expr.code) - known):
            close = difflib.get_close_matches(name, sorted(known - _ALWAYS_KNOWN), n=1)
            problems.append(Problem(
                f"网关条件引用了不存在的字段 '{name}'（表单、脚本和决策表都没有产生它）",
                f"gateway condition uses field '{name}' that no form, script or decision provides",
                file=expr.file, line=expr.line, element_id=expr.element_id,
                hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None))
    return problems


def _loaded_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return set()
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - stored


def _assigned_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code or "", mode="exec")
    except SyntaxError:
        return set()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    # d['x'] = ... on task data is rare, but assignments into a dict named in the data count.
    return names


def _lint_unknown_names(proc: ParsedProcess, forms: dict, config: dict) -> list[Problem]:
    """Refuse names a script reads that neither the sandbox nor any task data provides.

    Every kind of code is checked for names the sandbox refuses (open, eval ...), and for calls
    of names nothing defines (task data is never a function), with the closest known name as a
    hint (workday → workdays). Other unknown names are refused only where a start form declares
    the start data: without one a case may start with any fields. Unknown fields in gateway
    conditions are _lint_condition_names' to report."""
    data = _data_names(proc, forms, config)
    known = _SANDBOX_KNOWN | data
    start_declared = f"{proc.key}/start" in forms
    candidates = sorted(known - {n for n in SANDBOX_NAMES if n[:1].isupper()})
    problems = []
    for kind, code, mode, where in _all_code(proc):
        for name in sorted(_assigned_names(code) & HELPER_NAMES if mode == "exec" else ()):
            # The helper wins over task data in the sandbox, so the stored value could never be read.
            problems.append(Problem(f"脚本不能给辅助函数名 '{name}' 赋值，请换一个变量名",
                                    f"scripts cannot assign to the helper name '{name}'; use another name", **where))
        free, called = _free_names(code, mode)
        for name in sorted(free):
            if name in REFUSED_NAMES:
                problems.append(Problem(f"脚本不能使用 '{name}'：沙箱不提供它", f"scripts cannot use '{name}': "
                                        "the sandbox does not provide it", **where))
            elif name not in known and (name in called or start_declared and kind != "condition"):
                close = difflib.get_close_matches(name, candidates, n=1)
                label = _KIND_ZH.get(kind.split(":")[0], kind)
                problems.append(Problem(
                    f"{label}使用了未定义的名称 '{name}'（不是沙箱提供的函数，也不是表单、脚本或决策表产生的字段）",
                    f"{kind} uses '{name}', which is neither a sandbox function nor a field any form, script "
                    "or decision provides", hint=f"是否指 '{close[0]}'？(did you mean '{close[0]}'?)" if close else None,
                    **where))
    return problems


def _all_code(proc: ParsedProcess):
    main_file = sorted(proc.files)[0]
    for expr in proc.expressions:
        yield expr.kind, expr.code, expr.mode, dict(file=expr.file, line=expr.line, element_id=expr.element_id)
    for info in proc.user_tasks.values():
        for prop in ("candidateOrg", "dueDate", "warnAt"):
            if info.properties.get(prop):
                yield ("property", info.properties[prop], "eval",
                       dict(file=main_file, line=info.line, element_id=info.element_id))


_CATCHES_NAME_ERROR = {"NameError", "Exception", "BaseException"}


def _free_names(code: str, mode: str) -> tuple[set[str], set[str]]:
    """Return the names the code reads but never binds, and those of them it calls.

    Reads guarded by `except NameError` do not count."""
    try:
        tree = ast.parse(code or "", mode=mode)
    except SyntaxError:
        return set(), set()
    bound, guarded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Try) and any(_catches_name_error(h.type) for h in node.handlers):
            guarded |= {n.id for part in node.body for n in ast.walk(part) if isinstance(n, ast.Name)}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    free = loaded - bound - guarded
    return free, free & called


def _catches_name_error(handler_type) -> bool:
    if handler_type is None:
        return True
    types_ = handler_type.elts if isinstance(handler_type, ast.Tuple) else [handler_type]
    return any(isinstance(t, ast.Name) and t.id in _CATCHES_NAME_ERROR for t in types_)
