"""Label selectors as `kubectl get -l` reads them (apimachinery labels.Parse):
comma-separated requirements, each one of

    key=value  key==value  key!=value           equality, inequality
    key in (a,b)  key notin (a,b)               set-based
    key  !key                                   exists, does not exist
    key>1  key<9                                numeric comparison (integers)

A label missing from an object satisfies != and notin, as in Kubernetes. Errors are
apimachinery's `unable to parse requirement: ...` with what was found and expected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

_TOKEN = re.compile(r"\s*(==|=|!=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                   r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str                 # "in", "notin", "exists", "!", "gt", "lt"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.operator == "in":
            return has and labels[self.key] in self.values
        if self.operator == "notin":
            return not has or labels[self.key] not in self.values
        if self.operator == "exists":
            return has
        if self.operator == "!":
            return not has
        if not has:
            return False
        try:
            have, want = int(labels[self.key]), int(next(iter(self.values)))
        except ValueError:
            return False
        return have > want if self.operator == "gt" else have < want


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(r.matches(labels or {}) for r in self.requirements)


def parse_selector(text: str) -> Selector:
    tokens = [t for t in _TOKEN.findall(text or "")]
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", text or ""):
        raise SelectorError(f"unable to parse requirement: found unexpected characters in {text!r}")
    reqs, pos = [], 0
    while pos < len(tokens):
        try:
            req, pos = _requirement(tokens, pos)
        except SelectorError as exc:
            raise SelectorError(f"unable to parse requirement: {exc}") from None
        reqs.append(req)
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise SelectorError(f"found '{tokens[pos]}', expected: ',' or 'end of string'")
            pos += 1
            if pos == len(tokens):
                raise SelectorError("found '', expected: identifier")
    return Selector(tuple(reqs))


def _requirement(tokens: list[str], pos: int) -> tuple[Requirement, int]:
    if tokens[pos] == "!":
        key = _key(tokens, pos + 1)
        return Requirement(key, "!"), pos + 2
    key = _key(tokens, pos)
    pos += 1
    if pos == len(tokens) or tokens[pos] == ",":
        return Requirement(key, "exists"), pos
    op = tokens[pos]
    if op in ("=", "=="):
        value, pos = _value(tokens, pos + 1)
        return Requirement(key, "in", frozenset([value])), pos
    if op == "!=":
        value, pos = _value(tokens, pos + 1)
        return Requirement(key, "notin", frozenset([value])), pos
    if op in (">", "<"):
        value, pos = _value(tokens, pos + 1)
        if not re.fullmatch(r"-?\d+", value):
            raise SelectorError(f"for 'Gt', 'Lt' operators, the value must be an "
                                f"integer: {value!r}")
        return Requirement(key, "gt" if op == ">" else "lt", frozenset([value])), pos
    if op in ("in", "notin"):
        pos += 1
        if pos >= len(tokens) or tokens[pos] != "(":
            raise SelectorError(f"found '{tokens[pos] if pos < len(tokens) else ''}', expected: '('")
        values, pos = [], pos + 1
        while True:
            if pos >= len(tokens):
                raise SelectorError("found '', expected: ')'")
            if tokens[pos] == ")":
                pos += 1
                break
            if tokens[pos] == ",":
                values.append("")
                pos += 1
                continue
            value, pos = _value(tokens, pos)
            values.append(value)
            if pos < len(tokens) and tokens[pos] == ",":
                pos += 1
        if not values:
            raise SelectorError(f"for '{op}' operator, values set can't be empty")
        return Requirement(key, op, frozenset(values)), pos
    raise SelectorError(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")


def _key(tokens: list[str], pos: int) -> str:
    if pos >= len(tokens) or tokens[pos] in ("=", "==", "!=", "!", "(", ")", ",", ">", "<"):
        found = tokens[pos] if pos < len(tokens) else ""
        raise SelectorError(f"found '{found}', expected: identifier")
    key = tokens[pos]
    if not _NAME.match(key) or len(key.rpartition("/")[2]) > 63:
        raise SelectorError(f'Invalid value: "{key}": name part must consist of '
                            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                            "alphanumeric character")
    return key


def _value(tokens: list[str], pos: int) -> tuple[str, int]:
    if pos >= len(tokens) or tokens[pos] in (",", ")"):
        return "", pos          # key= selects an empty value, as kubectl allows
    value = tokens[pos]
    if not _VALUE.match(value) or len(value) > 63:
        raise SelectorError(f'Invalid value: "{value}": a valid label must be an '
                            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                            "start and end with an alphanumeric character")
    return value, pos + 1
