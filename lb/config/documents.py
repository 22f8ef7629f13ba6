"""YAML text to plain data, one document at a time.

A manifest file is split into its documents before anything is parsed: a line that starts
with `---` is a document marker wherever it stands (YAML forbids it inside scalars), so the
split is a regular expression, and a document whose text did not change need not be parsed
again. Files with directives (`%YAML`) or document end markers (`...`) are not split: PyYAML
reads them whole, as before.

Each document is composed by lb._compose (libyaml's events, built when libyaml's headers are
there) when it can, else by PyYAML's composer, which also keeps every field's line and words
the errors. Both read scalars as kubectl's YAML 1.1 reader does: unquoted yes/no/on/off are
booleans and 0755 is octal (so a label `enabled: yes` is an error, as with kubectl), while
timestamps stay strings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:
    from lb import _compose
except ImportError:      # built without libyaml's headers: PyYAML alone
    _compose = None

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES = 500_000     # per document; alias bombs ("billion laughs") stop here instead of eating memory
_MARKER = re.compile(r"^(?=---(?:[ \t\r\n]|$))", re.M)
_WHOLE_FILE = re.compile(r"^(?:%|\.\.\.(?:[ \t\r\n]|$))", re.M)
_CONTENT = re.compile(r"^[ \t]*[^#\s]", re.M)
# what PyYAML's reader refuses (yaml/reader.py NON_PRINTABLE), and its ASCII part
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")
_CONTROL = re.compile("[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]")


class _Constructor(SafeConstructor):
    """Scalars as kubectl reads them: timestamps stay the text that was written."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
_RESOLVER = Resolver()
_SCALARS = _Constructor()
_RESOLVED: dict[str, object] = {}


def resolve_plain(text: str):
    """A plain scalar's value as SafeLoader gives it (the fast path asks for the ambiguous ones)."""
    value = _RESOLVED.get(text, _RESOLVED)
    if value is not _RESOLVED:
        return value
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
    value = text if tag == "tag:yaml.org,2002:str" else _SCALARS.construct_object(ScalarNode(tag, text))
    if len(_RESOLVED) < 4096 and type(value) in (str, int, float, bool, type(None)):
        _RESOLVED[text] = value
    return value


class YAMLProblem(Exception):
    """What a document's text does wrong, with the 1-based line (relative to the text) and column."""

    def __init__(self, message: str, line: int, column: int | None = None):
        super().__init__(message)
        self.line, self.column = line, column


@dataclass
class Parsed:
    """One document's data. first_lines: id(mapping) -> 0-based line of its first key, for the
    top mapping and a List's items. lines: every field's 0-based line, when the slow path ran."""
    root: object
    first_lines: dict[int, int]
    lines: dict[str, int] | None = None
    duplicates: list[str] = field(default_factory=list)
    root_line: int = 0      # 0-based line where the document's node starts (slow path)


def split(text: str) -> list[tuple[int, str]] | None:
    """(0-based first line, text) of each document; None when the text has directives or
    document end markers (read it whole: compose_stream). The text before the first marker is
    a document only if it holds something besides comments, as PyYAML counts them."""
    if whole_file(text):
        return None
    pieces, line = [], 0
    for i, piece in enumerate(_cut(text)):
        if i > 0 or _CONTENT.search(piece):
            pieces.append((line, piece))
        line += piece.count("\n")
    return pieces


def whole_file(text: str) -> bool:
    """Whether text has directives or document end markers: read it whole (compose_stream)."""
    return ("\n%" in text or text.startswith("%") or "..." in text) and _WHOLE_FILE.search(text) is not None


def split_region(text: str) -> list[tuple[int, str]] | None:
    """(offset, text) of each document of a stretch of a file that starts at a `---` marker
    (so every piece is a document); None when the stretch is not such a one."""
    if not text.startswith("---") or text[3:4] not in ("", " ", "\t", "\r", "\n"):
        return None
    pieces, offset = [], 0
    for piece in _cut(text)[1:]:
        pieces.append((offset, piece))
        offset += len(piece)
    return pieces


def _cut(text: str) -> list[str]:
    """text cut before each line that is a `---` marker (str.split finds candidates at C
    speed; `---x` is no marker, so such a cut is sewn back)."""
    parts = text.split("\n---")
    out = [parts[0]]
    for part in parts[1:]:
        if part[:1] in ("", " ", "\t", "\r", "\n"):
            out[-1] += "\n"
            out.append("---" + part)
        else:
            out[-1] += "\n---" + part
    if out[0].startswith("---") and out[0][3:4] in ("", " ", "\t", "\r", "\n"):
        out.insert(0, "")
    return out


def check_printable(text: str) -> None:
    """Raises YAMLProblem at the line and column of the first character YAML refuses."""
    bad = (_CONTROL if text.isascii() else _NON_PRINTABLE).search(text)
    if bad:
        at = bad.start()
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        raise YAMLProblem(f"unacceptable character #x{ord(bad.group()):04x}: special characters are not allowed",
                          line, column)


def compose(text: str) -> Parsed | None:
    """The data of a text holding one document (None when it is empty); raises YAMLProblem."""
    if _compose is not None:
        fast = _compose.compose(text.encode(), resolve_plain, MAX_NODES)   # None: not a text for the fast path
        if fast is not None:
            root, first_lines = fast
            return Parsed(root, first_lines)
    return compose_with_lines(text)


def compose_with_lines(text: str) -> Parsed | None:
    """PyYAML's composer: slower, keeps every field's line, words errors; raises YAMLProblem."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as e:
        raise _problem(e, text) from None
    except yaml.YAMLError as e:
        raise YAMLProblem(f"invalid YAML: {e}", 0) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None
    if len(nodes) > 1:      # split() hands one document at a time
        mark = nodes[1].start_mark
        raise YAMLProblem("expected one document, found another", mark.line + 1, mark.column + 1)
    return _convert(nodes[0])


def _problem(e: yaml.MarkedYAMLError, text: str) -> YAMLProblem:
    mark = e.problem_mark or e.context_mark
    message = e.problem or "invalid YAML"
    if e.context:
        message += f" ({e.context})"
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, None)
    lines = text.splitlines() if mark else []
    if mark and mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t":
        message += " (a tab: YAML indents with spaces only)"
    return YAMLProblem(message, line, column)


def compose_stream(text: str):
    """Every document of a text that split() could not cut (directives, `...`), one Parsed
    (or None for an empty one) at a time; a YAMLProblem ends it where the text goes wrong."""
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            yield None if node is None else _convert(node)
    except yaml.MarkedYAMLError as e:
        raise _problem(e, text) from None
    except yaml.YAMLError as e:
        raise YAMLProblem(f"invalid YAML: {e}", 0) from None


def field_lines_of(text: str) -> dict[str, int]:
    """Every field's 0-based line in a document's text, for messages."""
    try:
        parsed = compose_with_lines(text)
    except YAMLProblem:
        return {}
    return parsed.lines if parsed is not None and parsed.lines else {}


def _convert(node) -> Parsed:
    walker = _Walker()
    if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
        return Parsed(None, {}, {})
    root = walker.convert(node, "", 0)
    return Parsed(root, walker.first_lines, walker.lines, walker.duplicates, node.start_mark.line)


class _Walker:
    """Nodes to plain data, recording each field's line (PyYAML path)."""

    def __init__(self) -> None:
        self.constructor = _Constructor()
        self.lines: dict[str, int] = {}
        self.first_lines: dict[int, int] = {}
        self.duplicates: list[str] = []
        self.budget = MAX_NODES
        self.open: set[int] = set()

    def convert(self, node, path: str, depth: int):
        self.budget -= 1
        if self.budget < 0:
            raise YAMLProblem(f"document too large (aliases expand to more than {MAX_NODES} nodes)",
                              node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            try:
                return self.constructor.construct_object(node)
            except yaml.MarkedYAMLError as e:        # an unknown tag such as !Ref
                mark = e.problem_mark or e.context_mark or node.start_mark
                raise YAMLProblem(e.problem or str(e), mark.line + 1, mark.column + 1) from None
            except (ValueError, OverflowError) as e:  # e.g. an integer over Python's 4,300 digits
                raise YAMLProblem(f"cannot read {node.value[:40]!r}...: {e}" if len(node.value) > 40
                                  else f"cannot read {node.value!r}: {e}",
                                  node.start_mark.line + 1, node.start_mark.column + 1) from None
        if id(node) in self.open:
            raise YAMLProblem("recursive alias: a node contains itself", node.start_mark.line + 1,
                              node.start_mark.column + 1)
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    child = f"{path}[{i}]"
                    self.lines[child] = item.start_mark.line
                    out.append(self.convert(item, child, depth + 1))
                return out
            if not isinstance(node, MappingNode):
                raise YAMLProblem("unknown node", node.start_mark.line + 1)
            try:
                self.constructor.flatten_mapping(node)      # YAML merge keys (<<)
            except yaml.MarkedYAMLError as e:
                mark = e.problem_mark or node.start_mark
                raise YAMLProblem(e.problem or str(e), mark.line + 1, mark.column + 1) from None
            result: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise YAMLProblem("a mapping key must be a scalar", key_node.start_mark.line + 1,
                                      key_node.start_mark.column + 1)
                if not result and depth <= 2:
                    self.first_lines[id(result)] = key_node.start_mark.line
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                if key in result:
                    self.duplicates.append(child)
                self.lines[child] = key_node.start_mark.line
                result[key] = self.convert(value_node, child, depth + 1)
            return result
        except RecursionError:
            raise YAMLProblem("document nested too deeply", node.start_mark.line + 1) from None
        finally:
            self.open.discard(id(node))
