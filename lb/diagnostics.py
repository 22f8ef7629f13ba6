"""Errors and warnings about manifests, worded as the Kubernetes API server words them.

    configs/x.yaml:12: Service "study/web" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767
    configs/x.yaml:3: Warning: unknown field "spec.ipFamily"
    configs/x.yaml:7:5: error: mapping values are not allowed here
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    severity: str                 # ERROR or WARNING
    path: str
    line: int
    message: str                  # "Invalid value: 40000: provided port is ..." or free text
    field: str | None = None      # "spec.ports[0].nodePort"
    kind: str | None = None       # "Service"
    namespace: str | None = None
    name: str | None = None
    column: int | None = None
    reason: str | None = None     # what kind of finding, for those who pick some out (SELECTS_NO_POD)

    def __str__(self) -> str:
        # line 0: about the file as a whole (missing, unreadable)
        where = f"{self.path}:{self.line}" if self.line else self.path
        where += f":{self.column}" if self.column else ""
        if self.severity == WARNING:
            return f"{where}: Warning: {self.message}"
        if self.kind and self.name is not None:
            obj = f"{self.namespace}/{self.name}" if self.namespace else self.name
            text = f'{self.kind} "{obj}" is invalid: '
            return f"{where}: {text}{self.field + ': ' if self.field else ''}{self.message}"
        return f"{where}: error: {self.message}"


def errors_of(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """The errors among diagnostics (warnings left out)."""
    return tuple(d for d in diagnostics if d.severity == ERROR)


# The API server's field error types (apimachinery field.ErrorType).
def required(detail: str = "") -> str:
    return "Required value" + (f": {detail}" if detail else "")


def invalid(value, detail: str) -> str:
    return f"Invalid value: {_show(value)}: {detail}"


def unsupported(value, supported) -> str:
    options = ", ".join(f'"{s}"' for s in supported)
    return f'Unsupported value: "{value}": supported values: {options}'


def duplicate(value) -> str:
    return f"Duplicate value: {_show(value)}"


def forbidden(detail: str) -> str:
    return f"Forbidden: {detail}"


def _show(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
