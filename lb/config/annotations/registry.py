"""The registry of lb's own annotations (`lb.io/...`): what a manifest says to lb that the
Kubernetes API has no field for (a scheduler per Service, health checks, PROXY protocol...).

Each annotation is declared once, with the kinds it may sit on, a parser that turns the
string into a value or raises ValueError saying what is accepted, and one line of doc (the
README's table is checked against it). Validation reports a bad value, or an `lb.io/` key
lb does not know (a typo would otherwise be silently ignored), as a field error at the
annotation's own line, like any field; the built object carries the parsed values in
`options`, keyed by the annotation's short name (the part after `lb.io/`).

A feature declares its annotations with `register(...)` in a module of this package (one per
feature: scheduling.py, ...), imported by __init__.py, and reads `obj.options[name]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from lb.diagnostics import invalid, unsupported

PREFIX = "lb.io/"
SERVICE, ENDPOINTS, ENDPOINT_SLICE, POD = "Service", "Endpoints", "EndpointSlice", "Pod"

Parse = Callable[[str], object]
NO_OPTIONS: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Annotation:
    name: str                 # the short name: lb.io/<name>
    parse: Parse              # str -> value; ValueError("must be ...") when refused
    doc: str
    kinds: tuple[str, ...] = (SERVICE,)

    @property
    def key(self) -> str:
        return PREFIX + self.name


_REGISTRY: dict[str, Annotation] = {}


def register(name: str, parse: Parse, doc: str, kinds: Iterable[str] = (SERVICE,)) -> Annotation:
    """Declare lb.io/<name>; a second declaration of the same name is a programming error."""
    if name in _REGISTRY:
        raise RuntimeError(f"annotation {PREFIX}{name} is declared twice")
    annotation = _REGISTRY[name] = Annotation(name, parse, doc, tuple(kinds))
    return annotation


def known(kind: str | None = None) -> list[Annotation]:
    """Every declared annotation (of a kind), by name: for errors, docs and `lb describe`."""
    return sorted((a for a in _REGISTRY.values() if kind is None or kind in a.kinds), key=lambda a: a.name)


def annotation_path(key: str) -> str:
    """The field path errors name: metadata.annotations[lb.io/scheduler]."""
    return f"metadata.annotations[{key}]"


def parse_annotations(kind: str, annotations: Mapping[str, str] | None) -> tuple[Mapping[str, object], list]:
    """(options, errors): lb.io/ annotations of an object of `kind` parsed, and field errors
    (path, message) for values refused and lb.io/ keys unknown or not for this kind."""
    if not annotations:
        return NO_OPTIONS, []
    options: dict[str, object] = {}
    errors: list = []
    for key, value in annotations.items():
        if not key.startswith(PREFIX):
            continue
        annotation = _REGISTRY.get(key[len(PREFIX):])
        if annotation is None or kind not in annotation.kinds:
            errors.append((annotation_path(key), unsupported(key, [a.key for a in known(kind)])))
            continue
        try:
            options[annotation.name] = annotation.parse(str(value))
        except ValueError as exc:
            errors.append((annotation_path(key), invalid(str(value), str(exc))))
    return (MappingProxyType(options) if options else NO_OPTIONS), errors
