"""kubectl's JSONPath templates (`-o jsonpath=...`, `-o custom-columns=...`), as
k8s.io/client-go/util/jsonpath reads and prints them, over plain JSON data.

A template is text with actions in braces: `{.items[*].metadata.name}`, `{"\\n"}`,
`{range .items[*]}{.metadata.name}{"\\t"}{end}`. Inside an action: `.field` (`\\.` escapes a
dot in a key), `['key']`, `[n]` and slices `[a:b:c]` (negative from the end), `[*]` and
`.*`, unions `[0,2]`, recursive descent `..name`, `@`/`$` for the current object, quoted
text, and filters `[?(@.port==80)]` with ==, !=, <, >, <=, >=, =~ (regular expression)
and `[?(@.name)]` (exists). Missing keys give nothing, as kubectl's printers allow.
Maps are walked in sorted key order (Go's order is random). Printing: strings as they
are, maps and lists as compact JSON, several results of one action joined by a space.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_DICT_KEY = re.compile(r"^'([^']*)'$")
_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=~]+)(.+?)$")
_TERMINATORS = set(" \t\r\n.,[]$@{}")


class JSONPathError(ValueError):
    """A template that does not parse, or that fails on the data (kubectl's words)."""


# --- the parsed template ------------------------------------------------------------

@dataclass
class Field:
    name: str


@dataclass
class Index:
    start: int | None
    stop: int | None
    step: int | None
    single: bool          # [n]: stop is n+1, counted from the end when n is negative


@dataclass
class Wildcard:
    pass


@dataclass
class Recursive:
    pass


@dataclass
class Union:
    branches: list[list]


@dataclass
class Filter:
    left: list
    operator: str         # "exists" or a comparison
    right: list


@dataclass
class Literal:
    value: object         # quoted text, a number or a bool


@dataclass
class Action:
    """One {...}: a path (the steps), a `range` over it, or an `end`."""
    steps: list = field(default_factory=list)
    keyword: str = ""     # "range", "end" or ""


def parse(template: str) -> list:
    """Text pieces (str) and Actions, in order. Raises JSONPathError as kubectl words it."""
    out: list = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        if start > pos:
            out.append(template[pos:start])
        action, pos = _Parser(template, start + 1).action()
        out.append(action)
    return out


class _Parser:
    def __init__(self, text: str, pos: int):
        self.text, self.pos = text, pos

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def action(self) -> tuple[Action, int]:
        action = Action()
        while True:
            if self.pos >= len(self.text) or self.peek() in "\r\n":
                raise JSONPathError("unclosed action")
            if self.peek() == "}":
                return action, self.pos + 1
            self.step(action)

    def step(self, action: Action) -> None:
        if self.peek(3) == "[?(":
            action.steps.append(self.filter())
            return
        if self.peek(2) == "..":
            if action.steps and isinstance(action.steps[-1], Recursive):
                raise JSONPathError("invalid multiple recursive descent")
            self.pos += 2
            action.steps.append(Recursive())
            if self.pos < len(self.text) and (self.peek().isalnum() or self.peek() == "_"):
                action.steps.append(self.field())
            return
        c = self.peek()
        if c in " @$":
            self.pos += 1
        elif c == "[":
            action.steps.append(self.bracket())
        elif c in "\"'":
            action.steps.append(Literal(self.quoted(c)))
        elif c == ".":
            self.pos += 1
            action.steps.append(self.field())
        elif c in "+-" or c.isdigit():
            action.steps.append(Literal(self.number()))
        elif c.isalnum() or c == "_":
            word = self.word()
            if word in ("true", "false"):
                action.steps.append(Literal(word == "true"))
            elif word in ("range", "end"):
                action.keyword = word
            else:
                raise JSONPathError(f"unrecognized identifier {word}")
        else:
            raise JSONPathError(f"unrecognized character in action: {c!r}")

    def word(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _TERMINATORS:
            self.pos += 1
        return self.text[start:self.pos]

    def field(self):
        start = self.pos
        while self.pos < len(self.text):
            if self.text[self.pos] == "\\":
                self.pos += 2
                continue
            if self.text[self.pos] in _TERMINATORS:
                break
            self.pos += 1
        name = self.text[start:self.pos].replace("\\", "")
        return Wildcard() if name == "*" else Field(name)

    def number(self):
        m = re.compile(r"[+-]?[\d.]*").match(self.text, self.pos)
        self.pos = m.end()
        try:
            return int(m.group())
        except ValueError:
            try:
                return float(m.group())
            except ValueError:
                raise JSONPathError(f"cannot parse number {m.group()}") from None

    def quoted(self, quote: str) -> str:
        end = self.pos + 1
        while True:
            if end >= len(self.text) or self.text[end] == "\n":
                raise JSONPathError("unterminated quoted string")
            if self.text[end] == quote and self.text[end - 1] != "\\":
                break
            end += 1
        raw = self.text[self.pos + 1:end]
        self.pos = end + 1
        try:     # Go's strconv escapes: \n, \t, \", \\ and friends
            return raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError:
            raise JSONPathError(f"unquote string {quote}{raw}{quote} error invalid syntax") from None

    def bracket(self):
        end = self.pos
        while True:
            end += 1
            if end >= len(self.text) or self.text[end] == "\n":
                raise JSONPathError("unterminated array")
            if self.text[end] == "]":
                break
        text = self.text[self.pos + 1:end]
        self.pos = end + 1
        if text == "*":
            return Wildcard()
        parts = text.split(",")
        if len(parts) > 1:
            return Union([_steps(f"[{p.strip()}]") for p in parts])
        key = _DICT_KEY.match(text)
        if key:
            return Field(key[1])
        m = _SLICE.match(text)
        if not m:
            raise JSONPathError(f"invalid array index {text}")
        start = int(m[1]) if m[1] not in ("", "-") else None
        if m[2] is None:
            return Index(start, None, None, single=True)
        stop = int(m[2][1:]) if m[2][1:] else None
        step = int(m[3][1:]) if m[3] and m[3][1:] else None
        return Index(start, stop, step, single=False)

    def filter(self) -> Filter:
        start = self.pos + 3
        end, quote = start, None
        while True:
            if end >= len(self.text) or self.text[end] == "\n":
                raise JSONPathError("unterminated filter")
            c = self.text[end]
            if c in "\"'" and (quote is None or c == quote) and self.text[end - 1] != "\\":
                quote = None if quote else c
            elif c == ")" and quote is None:
                break
            end += 1
        if self.text[end + 1:end + 2] != "]":
            raise JSONPathError("unclosed array expect ]")
        text = self.text[start:end]
        self.pos = end + 2
        m = _FILTER.match(text)
        if not m:
            return Filter(_steps(text), "exists", [])
        return Filter(_steps(m[1].strip()), m[2], _steps(m[3].strip()))


def _steps(text: str) -> list:
    action, _ = _Parser(text + "}", 0).action()
    return action.steps


# --- evaluating ---------------------------------------------------------------------

def find(steps: list, data) -> list:
    """The values a path gives on data (missing keys give none)."""
    values = [data]
    for step in steps:
        values = _apply(step, values)
    return values


def _apply(step, values: list) -> list:
    out: list = []
    if isinstance(step, Field):
        return [v[step.name] for v in values if isinstance(v, dict) and step.name in v]
    if isinstance(step, Literal):
        return [step.value for _ in values]
    if isinstance(step, Wildcard):
        for v in values:
            out += _children(v)
        return out
    if isinstance(step, Recursive):
        for v in values:
            out += _descendants(v)
        return out
    if isinstance(step, Union):
        for branch in step.branches:
            for v in values:
                out += find(branch, v)
        return out
    if isinstance(step, Index):
        for v in values:
            if v is None:
                continue
            if not isinstance(v, list):
                raise JSONPathError(f"{_go_type(v)} is not array or slice")
            out += _slice(step, v)
        return out
    if isinstance(step, Filter):
        for v in values:
            if not isinstance(v, list):
                raise JSONPathError(f"{_go_type(v)} is not array or slice and cannot be filtered")
            out += [item for item in v if _passes(step, item)]
        return out
    raise JSONPathError(f"unexpected node {step!r}")


def _children(v) -> list:
    if isinstance(v, dict):
        return [v[k] for k in sorted(v)]
    if isinstance(v, (list, str)):
        return list(v)
    return []


def _descendants(v) -> list:
    kids = _children(v) if isinstance(v, (dict, list)) else []     # a string's characters end the walk
    if not kids:
        return []
    out = [v]
    for kid in kids:
        out += _descendants(kid)
    return out


def _slice(step: Index, items: list) -> list:
    n = len(items)
    start = step.start or 0
    if start < 0:
        start += n
    if step.single:
        stop = start + 1
    else:
        stop = n if step.stop is None else step.stop
        if stop < 0:
            stop += n
    if stop == start:
        return []
    if not 0 <= start < n:
        raise JSONPathError(f"array index out of bounds: index {start}, length {n}")
    if not 0 <= stop <= n:
        raise JSONPathError(f"array index out of bounds: index {stop - 1}, length {n}")
    if start > stop:
        raise JSONPathError(f"starting index {start} is greater than ending index {stop}")
    step_by = 1 if step.step is None else step.step
    if step_by <= 0:
        raise JSONPathError("step must be > 0")
    return items[start:stop:step_by]


def _passes(f: Filter, item) -> bool:
    lefts = find(f.left, item)
    if f.operator == "exists":
        return bool(lefts)
    rights = find(f.right, item)
    if not lefts or not rights:
        return False
    if len(lefts) > 1 or len(rights) > 1:
        raise JSONPathError("can only compare one element at a time")
    left, right = lefts[0], rights[0]
    if f.operator == "=~":
        if not (isinstance(left, str) and isinstance(right, str)):
            raise JSONPathError("regexp search only support string now")
        return re.search(right, left) is not None
    compare = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}.get(f.operator)
    if compare is None:
        raise JSONPathError(f"unrecognized filter operator {f.operator}")
    if isinstance(left, bool) != isinstance(right, bool) or (
            isinstance(left, (int, float)) != isinstance(right, (int, float))):
        return f.operator == "!="      # Go's template comparison of unlike kinds
    try:
        return compare(left, right)
    except TypeError:
        raise JSONPathError(f"incompatible types for comparison: {left!r} {right!r}") from None


def _go_type(v) -> str:
    return {dict: "map[string]interface {}", list: "[]interface {}", str: "string", bool: "bool",
            int: "int64", float: "float64"}.get(type(v), "interface {}")


# --- printing -----------------------------------------------------------------------

def execute(template: str | list, data) -> str:
    """The template's text for data, as `kubectl -o jsonpath=` prints it."""
    nodes = parse(template) if isinstance(template, str) else template
    out: list[str] = []
    _run(nodes, data, out)
    return "".join(out)


def _run(nodes: list, data, out: list[str]) -> int:
    """Print nodes for data until an unmatched {end}; returns how many nodes were used."""
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if isinstance(node, str):
            out.append(node)
        elif node.keyword == "end":
            return i + 1
        elif node.keyword == "range":
            body = nodes[i + 1:]
            used = None
            for value in find(node.steps, data):
                used = _run(body, value, out)
            if used is None:        # no items: still find where the range ends
                used = _run(body, None, [])
            i += 1 + used
            continue
        else:
            out.append(" ".join(text_of(v) for v in find(node.steps, data)))
        i += 1
    return i


def text_of(value) -> str:
    """One result as kubectl prints it: maps and lists as compact JSON."""
    if isinstance(value, (dict, list)):
        return go_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def go_json(value, indent: int | None = None) -> str:
    """Go's encoding/json: map keys sorted, <, > and & escaped, non-ASCII kept."""
    text = json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False,
                      separators=(",", ": ") if indent else (",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text
