"""What a submission may carry: a start, a task completion or a message, each checked against one declared form.

The same ``FormContract`` publishes the JSON Schema an API client sees and checks what is
submitted, so the two cannot drift: person, org and file fields take their allowed values from the
database once per contract (usernames holding the role near the case, org codes of the kind,
attachment ids of the case), and conditions read the same case data. A process without a start
form accepts no start data, and a message carries only the fields its process declares for it
(``messages: {name: {fields: [...]}}`` in ``processes/<key>.yaml``): submitted data can never
set a process parameter or replace a script helper.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..org.choices import org_choices, org_paths, person_choices
from ..context import context_of
from ..store.models import Attachment, HumanTask, Instance, ProcessDefinition
from .declared_data import message_form
from .deployment import form_for
from .form_fields import FieldType, FormField
from .forms import Form, form_to_json_schema, validate_form_data

__all__ = ["FormContract", "accept_payload", "message_contract", "parameters", "start_contract", "task_contract"]


@dataclass
class FormContract:
    """One form in one place: the data its conditions read and the values its pickers allow."""

    form: Form
    context: Mapping
    evaluate: Callable[[str, dict], object]
    _lookup: Callable[[FormField], list[tuple]]   # (value, what people read) of a picker
    _org_paths: Callable[[], dict]
    _cache: dict = field(default_factory=dict)

    def options(self, f: FormField) -> list[tuple]:
        """Return (value, label) of what a person, org or file field may take here."""
        key = (f.type, f.role, f.kind)
        if key not in self._cache:
            self._cache[key] = self._lookup(f)
        return self._cache[key]

    def choices(self, f: FormField) -> list | None:
        """Return the values a person, org or file field may take here."""
        return [value for value, _ in self.options(f)]

    def within(self, f: FormField, outer: object) -> list:
        """Return the values of org field ``f`` that lie inside the org coded ``outer``."""
        if "paths" not in self._cache:
            self._cache["paths"] = self._org_paths()
        paths = self._cache["paths"]
        prefix = paths.get(str(outer))
        return [code for code in self.choices(f) or [] if prefix and paths.get(code, "").startswith(prefix)]

    def schema(self) -> dict:
        """Return the JSON Schema published for this form here.

        A person or org picker's allowed values come with what people read (``x-options``: a
        user's name and org, an org's name), so a client shows names, never codes.
        """
        schema = form_to_json_schema(self.form, context=self.context, choices=self.choices, evaluate=self.evaluate,
                                     within=self.within)
        self._name_pickers(self.form.fields, schema.get("properties", {}))
        return schema

    def _name_pickers(self, fields, properties: dict) -> None:
        for f in fields:
            prop = properties.get(f.name)
            if not isinstance(prop, dict):
                continue
            if f.type in (FieldType.PERSON, FieldType.ORG) and "enum" in prop and "x-options" not in prop:
                prop["x-options"] = [{"value": value, "label": label} for value, label in self.options(f)]
            elif f.type is FieldType.TABLE and isinstance(prop.get("items"), dict):
                self._name_pickers(f.columns, prop["items"].get("properties", {}))

    def accept(self, data: object) -> dict:
        """Return ``data`` cleaned for storing, or raise FormInvalid naming every field at fault."""
        return validate_form_data(self.form, data if data is not None else {}, context=self.context,
                                  evaluate=self.evaluate, choices=self.choices, within=self.within)


def _contract(session: Session, form: Form, *, context: Mapping, org_path: str,
              attachment_ids: Callable[[], list]) -> FormContract:
    env = context_of(session).script_engine.environment

    def lookup(f: FormField) -> list[tuple]:
        if f.type is FieldType.PERSON:
            return person_choices(session, role=f.role, org_path=org_path)
        if f.type is FieldType.ORG:
            return org_choices(session, kind=f.kind)
        return [(i, str(i)) for i in attachment_ids()]

    return FormContract(form, context, lambda expr, names: env.evaluate(expr, dict(names)), lookup,
                        lambda: org_paths(session))


def parameters(definition: ProcessDefinition) -> dict:
    """Return the process parameters (``variables`` of processes/<key>.yaml) every case starts with."""
    variables = (definition.config or {}).get("variables")
    return variables if isinstance(variables, dict) else {}


def start_contract(session: Session, *, definition: ProcessDefinition, org_path: str,
                   new_files: list[str] = ()) -> FormContract:
    """Return the contract of a start: the start form, or an empty one when the process has none.

    A start has no case yet, so a file field may name only the files uploaded with it (``new_files``).
    """
    key = f"{definition.key}/start"
    form = form_for(definition, key) if key in (definition.forms or {}) else Form(key=key, title=definition.name)
    return _contract(session, form, context=parameters(definition), org_path=org_path,
                     attachment_ids=lambda: list(new_files))


def task_contract(session: Session, *, task: HumanTask, instance: Instance | None = None,
                  definition: ProcessDefinition | None = None) -> FormContract:
    """Return the contract of completing ``task``: its form over the case data, files of its case."""
    instance = instance or task.instance
    definition = definition or instance.definition
    org = task.candidate_org or instance.org
    return _contract(session, form_for(definition, task.form_key), context=instance.data or {},
                     org_path=org.path if org else "/",
                     attachment_ids=lambda: list(session.scalars(
                         select(Attachment.id).where(Attachment.instance_id == instance.id).order_by(Attachment.id))))


def message_contract(session: Session, *, definition: ProcessDefinition, name: str, org_path: str = "/") -> FormContract:
    """Return the contract of a message's payload for cases of ``definition``."""
    return _contract(session, message_form(definition, name), context={}, org_path=org_path,
                     attachment_ids=lambda: [])


def accept_payload(contract: FormContract, payload: object) -> dict:
    """Return a message payload checked against its declaration: only the fields it carries are set."""
    cleaned = contract.accept(payload)
    return {k: v for k, v in cleaned.items() if k in payload}
