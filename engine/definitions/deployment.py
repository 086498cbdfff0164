"""Process definitions: collect sources, validate and lint them, deploy versions, load specs."""
from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from .. import clock
from ..board.warning_rules import deploy_rules, split_rule_paths
from ..errors import DefinitionInvalid, EngineError, NotFound, Problem
from ..spiff.parser import ParsedProcess, call_cycles, parse_bundle
from ..spiff.workflow import dump_spec, load_spec
from ..store.models import ProcessDefinition
from ..store.rows import attach
from .declared_data import check_declared_names
from .form_fields import FormField
from .forms import form_from_dict, form_to_dict, parse_form
from .lint import lint_process

CONFIG_KEYS = {"name", "search_fields", "messages", "title", "business_key_prefix", "variables",
               "start_roles", "candidate_org", "description", "category"}


@dataclass
class SourceSet:
    """Every file a deployment is made of, by kind."""

    bpmn: dict[str, bytes] = field(default_factory=dict)
    dmn: dict[str, bytes] = field(default_factory=dict)
    forms: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (file, text)
    configs: dict[str, tuple[str, str]] = field(default_factory=dict)  # process key -> (file, text)


@dataclass(frozen=True)
class DeployResult:
    key: str
    version: int
    definition_id: int
    created: bool


def collect_sources(paths: list[Path | str]) -> SourceSet:
    """Gather BPMN, DMN, form and config files from files or repository-shaped folders."""
    sources = SourceSet()
    form_roots: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise NotFound(f"路径不存在：{path}", message_en=f"no such path: {path}")
        if path.is_dir():
            proc_dir = path / "processes" if (path / "processes").is_dir() else path
            files = sorted(proc_dir.glob("*"))
            for candidate in (path / "forms", proc_dir.parent / "forms"):
                if candidate.is_dir():
                    form_roots.add(candidate.resolve())
        else:
            files = [path]
            if (path.parent.parent / "forms").is_dir():
                form_roots.add((path.parent.parent / "forms").resolve())
        for f in files:
            _add_file(sources, f)
    for root in sorted(form_roots):
        for f in sorted(root.glob("*/*.yaml")):
            key = f"{f.parent.name}/{f.stem}"
            sources.forms.setdefault(key, (str(f.relative_to(root.parent)), f.read_text(encoding="utf-8")))
    return sources


def _add_file(sources: SourceSet, f: Path) -> None:
    suffix = f.suffix.lower()
    if suffix == ".bpmn":
        sources.bpmn[f.name] = f.read_bytes()
    elif suffix == ".dmn":
        sources.dmn[f.name] = f.read_bytes()
    elif suffix in (".yaml", ".yml"):
        sources.configs[f.stem] = (f.name, f.read_text(encoding="utf-8"))


@dataclass
class ValidProcess:
    parsed: ParsedProcess
    forms: dict[str, dict]
    config: dict
    content_hash: str
    sources: dict[str, str]


def validate(sources: SourceSet) -> list[ValidProcess]:
    """Parse and lint every process in ``sources``; raise one DefinitionInvalid listing all problems."""
    if not sources.bpmn:
        raise DefinitionInvalid("没有找到 BPMN 文件", message_en="no BPMN file given")
    parsed = parse_bundle(sources.bpmn, sources.dmn)
    # A process that calls itself, directly or through others, would spin on its first start.
    problems: list[Problem] = call_cycles(sources.bpmn)
    forms, form_files = {}, {}
    for key, (file, text) in sources.forms.items():
        if key.split("/")[0] not in parsed:
            continue
        try:
            forms[key] = parse_form(text, key=key, file=file)
            form_files[key] = file
        except DefinitionInvalid as exc:
            problems.extend(exc.details)
    out = []
    for key, proc in sorted(parsed.items()):
        config, config_problems = _parse_config(sources.configs.get(key))
        problems.extend(config_problems)
        proc_forms = {k: f for k, f in forms.items() if k.split("/")[0] == key}
        problems.extend(lint_process(proc, forms=proc_forms, form_files=form_files, config=config))
        problems.extend(check_declared_names(process_key=key, forms=proc_forms, config=config,
                                             file=sources.configs[key][0] if key in sources.configs else None))
        used = {k: form_to_dict(f) for k, f in proc_forms.items()}
        files = {name: (sources.bpmn.get(name) or sources.dmn[name]).decode("utf-8") for name in sorted(proc.files)}
        if key in sources.configs:
            files[sources.configs[key][0]] = sources.configs[key][1]
        digest = hashlib.sha256(json.dumps([files, used], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        out.append(ValidProcess(proc, used, config, digest, files))
    if problems:
        raise DefinitionInvalid("流程定义未通过校验", message_en="The process definition failed validation", details=problems)
    return out


def _parse_config(entry: tuple[str, str] | None) -> tuple[dict, list[Problem]]:
    if entry is None:
        return {}, []
    file, text = entry
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        return {}, [Problem(f"YAML 格式错误：{exc}", "malformed YAML", file=file, line=line + 1 if line is not None else None)]
    if not isinstance(data, dict):
        return {}, [Problem("流程配置应为键值映射", "process config must be a mapping", file=file, line=1)]
    unknown = sorted(set(data) - CONFIG_KEYS)
    return data, [Problem(f"未知的配置项 '{k}'", f"unknown config key '{k}'", file=file) for k in unknown]


def deploy(session: Session, *, paths: list[Path | str], actor: str | None = None,
           note: str | None = None) -> list[DeployResult]:
    """Validate and store every process under ``paths``; identical content is a no-op."""
    rule_files, paths = split_rule_paths(paths)  # processes/warnings/*.dmn: warning rules, versioned alike
    results = []
    for valid in (validate(collect_sources(paths)) if paths or not rule_files else []):
        key = valid.parsed.key
        existing = session.scalar(select(ProcessDefinition).where(
            ProcessDefinition.key == key, ProcessDefinition.content_hash == valid.content_hash))
        if existing is not None:
            results.append(DeployResult(key, existing.version, existing.id, False))
            continue
        version = (session.scalar(select(func.max(ProcessDefinition.version)).where(ProcessDefinition.key == key)) or 0) + 1
        definition = ProcessDefinition(
            key=key, version=version, name=valid.config.get("name") or valid.parsed.name,
            content_hash=valid.content_hash,
            spec=dump_spec(valid.parsed.spec, valid.parsed.subprocess_specs) | {"meta": _meta(valid.parsed)},
            sources=valid.sources, forms=valid.forms, config=valid.config,
            deployed_at=clock.now(), deployed_by=actor, note=note or None)
        session.add(definition)
        session.flush()
        results.append(DeployResult(key, version, definition.id, True))
    return results + [DeployResult(f"warnings/{r.key}", r.version, r.rule_id, r.created)
                      for r in deploy_rules(session, files=rule_files, actor=actor)]


def _meta(parsed: ParsedProcess) -> dict:
    return {
        "start_messages": sorted(parsed.start_message_names),
        "messages": sorted(parsed.message_names),
        "end_events": parsed.end_events,
        "lanes": sorted(parsed.lanes),
        "user_tasks": {k: {"name": t.name, "lane": t.lane, "form_key": t.form_key, "multi_instance": t.multi_instance}
                       for k, t in parsed.user_tasks.items()},
    }


# Forms and config are decoded from JSON once per process (see with_cached_json), not per load.
WITHOUT_JSON = (defer(ProcessDefinition.forms), defer(ProcessDefinition.config))
# A row, not an ORM load (rows.attach makes the object): what a start reads first. Not the large
# or JSON columns, as in WITHOUT_JSON; the deferred ones load when first touched.
_D = ProcessDefinition.__table__
_ROW_KEYS = ("id", "key", "version", "name", "content_hash", "deployed_at", "deployed_by")
_LATEST = (select(*(_D.c[k] for k in _ROW_KEYS)).where(_D.c.key == bindparam("key"))
           .order_by(_D.c.version.desc()).limit(1))
_VERSION = (select(*(_D.c[k] for k in _ROW_KEYS)).where(_D.c.key == bindparam("key"),
                                                          _D.c.version == bindparam("version")).limit(1))


def get_definition(session: Session, *, key: str, version: int | None = None) -> ProcessDefinition:
    """Return a process definition: the given version, else the latest."""
    session.flush()  # a definition deployed earlier in this transaction is in the database
    if version:
        row = session.connection().execute(_VERSION, {"key": key, "version": version}).first()
    else:
        row = session.connection().execute(_LATEST, {"key": key}).first()
    if row is None:
        raise NotFound(f"流程 '{key}' 未部署" + (f"版本 {version}" if version else ""),
                       message_en=f"process '{key}' is not deployed" + (f" at version {version}" if version else ""))
    return with_cached_json(attach(session, ProcessDefinition, dict(row._mapping)))


class FrozenDict(dict):
    """A dict no one can change in place: decoded JSON shared by every thread and session.

    Still a dict (``isinstance`` checks and ``json`` keep working); a deep copy is an ordinary,
    changeable dict, which is what a caller that wants to change it should take.
    """

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("definition data is shared between requests; copy.deepcopy it to change it")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self):
        return dict, (dict(self),)


class FrozenList(list):
    """A list no one can change in place (see FrozenDict)."""

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("definition data is shared between requests; copy.deepcopy it to change it")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = \
        sort = reverse = _refuse

    def __copy__(self):
        return list(self)

    def __deepcopy__(self, memo):
        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self):
        return list, (list(self),)


def frozen(value):
    """Return decoded JSON as FrozenDict/FrozenList all the way down."""
    if isinstance(value, dict):
        return FrozenDict({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(frozen(v) for v in value)
    return value


# Web servers run requests in threads (docs/operations.md): every cache below is read and
# changed under this lock; the slow work (decoding, parsing) happens outside it.
_CACHE_LOCK = threading.Lock()
_JSON_CACHE: OrderedDict[tuple[int, str], tuple[dict, dict]] = OrderedDict()


def with_cached_json(definition: ProcessDefinition) -> ProcessDefinition:
    """Give a definition loaded WITHOUT_JSON its forms and config from the per-process cache.

    A stored definition never changes (runtime_spec relies on the same), so the decoded dicts
    are shared between sessions and threads: they are frozen, and changing one raises TypeError.
    """
    state = inspect(definition)
    if "forms" in state.dict and "config" in state.dict:
        return definition
    key = (definition.id, definition.content_hash)
    with _CACHE_LOCK:
        cached = _JSON_CACHE.get(key)
        if cached is not None:
            _JSON_CACHE.move_to_end(key)
    if cached is None:
        loaded = (frozen(definition.forms), frozen(definition.config))
        with _CACHE_LOCK:
            cached = _JSON_CACHE.setdefault(key, loaded)
            while len(_JSON_CACHE) > _SPEC_CACHE_SIZE:
                _JSON_CACHE.popitem(last=False)
    set_committed_value(definition, "forms", cached[0])
    set_committed_value(definition, "config", cached[1])
    return definition


def latest_definitions(session: Session) -> list[ProcessDefinition]:
    """Return the latest version of every deployed process."""
    latest = select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v")).group_by(ProcessDefinition.key).subquery()
    return list(session.scalars(select(ProcessDefinition).join(
        latest, (ProcessDefinition.key == latest.c.key) & (ProcessDefinition.version == latest.c.v)
    ).order_by(ProcessDefinition.key)))


_SPEC_CACHE: OrderedDict[tuple[int, str], tuple] = OrderedDict()
_SPEC_CACHE_SIZE = 64


def runtime_spec(definition: ProcessDefinition) -> tuple:
    """Return (spec, subprocess specs) for a definition, parsed once per process."""
    # Definitions never change once stored; the hash guards against an id reused after a
    # rolled-back deployment (SQLite hands out max(id)+1 again).
    key = (definition.id, definition.content_hash)
    with _CACHE_LOCK:
        cached = _SPEC_CACHE.get(key)
        if cached is not None:
            _SPEC_CACHE.move_to_end(key)
            return cached
    loaded = load_spec(definition.spec)
    with _CACHE_LOCK:
        # Two threads may both have parsed it: keep one, so every workflow shares the same specs.
        cached = _SPEC_CACHE.setdefault(key, loaded)
        while len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
            _SPEC_CACHE.popitem(last=False)
    return cached


_FORM_CACHE: OrderedDict[tuple[int, str, str], object] = OrderedDict()
_FORM_CACHE_SIZE = 512


def form_for(definition: ProcessDefinition, form_key: str):
    """Return the parsed form ``form_key`` of a definition (parsed once per process)."""
    # Forms are frozen and a stored definition never changes: cache as runtime_spec does.
    key = (definition.id, definition.content_hash, form_key)
    with _CACHE_LOCK:
        form = _FORM_CACHE.get(key)
    if form is not None:
        return form
    raw = definition.forms.get(form_key)
    if raw is None:
        raise EngineError(f"流程 {definition.key} v{definition.version} 没有表单 {form_key}",
                          message_en=f"process {definition.key} v{definition.version} has no form {form_key}")
    form = form_from_dict(raw)
    if definition.id is not None:
        with _CACHE_LOCK:
            form = _FORM_CACHE.setdefault(key, form)
            while len(_FORM_CACHE) > _FORM_CACHE_SIZE:
                _FORM_CACHE.popitem(last=False)
    return form


# Every case page, list and summary needs the catalogue, and deriving it reads every form: kept per
# stored definition like the forms above.
_CATALOGUES: dict[tuple[int, str], dict[str, FormField]] = {}


def field_catalogue(definition: ProcessDefinition) -> dict[str, FormField]:
    """Return every field any form of the definition declares, first declaration wins, form order kept."""
    key = (definition.id, definition.content_hash)
    found = _CATALOGUES.get(key) if definition.id is not None else None
    if found is None:
        found = {}
        for form_key in sorted(definition.forms, key=lambda k: (not k.endswith("/start"), _task_order(definition, k))):
            for f in form_for(definition, form_key).fields:
                found.setdefault(f.name, f)
        if definition.id is not None:
            _CATALOGUES[key] = found
    return dict(found)


def _task_order(definition: ProcessDefinition, form_key: str) -> int:
    tasks = list(((definition.spec or {}).get("meta") or {}).get("user_tasks", {}))
    element = form_key.split("/", 1)[-1]
    return tasks.index(element) if element in tasks else len(tasks)

