"""The one error family the engine raises; front doors map it to HTTP codes and pages."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One located problem: a field error, a lint finding, a parse error."""

    message: str
    message_en: str = ""
    file: str | None = None
    line: int | None = None
    element_id: str | None = None
    field: str | None = None
    hint: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        parts = [where, f"[{self.element_id}]" if self.element_id else "", self.message]
        if self.message_en:
            parts.append(f"({self.message_en})")
        if self.hint:
            parts.append(f"— {self.hint}")
        return " ".join(p for p in parts if p)


class EngineError(Exception):
    """Base of every error the engine reports to a caller."""

    code = "engine_error"
    status = 400

    def __init__(self, message: str, *, message_en: str = "", details: list[Problem] | None = None):
        super().__init__(message)
        self.message = message
        self.message_en = message_en
        self.details = list(details or [])

    def as_dict(self) -> dict:
        return {
            "error": self.code,
            "message": self.message,
            "message_en": self.message_en,
            "details": [d.as_dict() for d in self.details],
        }

    def __str__(self) -> str:
        lines = [self.message + (f" ({self.message_en})" if self.message_en else "")]
        lines += [f"  - {d}" for d in self.details]
        return "\n".join(lines)


class NotFound(EngineError):
    code, status = "not_found", 404


class NotAllowed(EngineError):
    code, status = "not_allowed", 403


class Conflict(EngineError):
    code, status = "conflict", 409


class TaskNotOpen(Conflict):
    code = "task_not_open"


class FormInvalid(EngineError):
    code, status = "form_invalid", 422


class DefinitionInvalid(EngineError):
    code, status = "definition_invalid", 422


class ScriptFailed(EngineError):
    code, status = "script_failed", 422

    def __init__(self, message: str, *, trace: list[str] | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.trace = list(trace or [])

    def as_dict(self) -> dict:
        out = super().as_dict()
        out["trace"] = self.trace
        return out


class MessageNotDelivered(NotFound):
    code = "message_not_delivered"
