"""`-o yaml|json|name|jsonpath=...|custom-columns=...`: objects printed as kubectl prints
what it got from the API server.

kubectl decodes the server's JSON into maps, so both encoders see maps: `-o json` is Go's
encoding/json (keys in byte order, 4-space indent, <, > and & escaped); `-o yaml` is
sigs.k8s.io/yaml over go-yaml v2: keys in go-yaml's order (runs of digits compared as
numbers, other characters before letters: port9 before port10), strings double-quoted when
they would read back as something else (yes, on, "80", "1.5", "2024-01-02", null),
single-quoted when YAML needs quotes (': ', '#x'), `|` for text with newlines, lines folded
at 80 columns. metadata.managedFields is left out unless --show-managed-fields.
PyYAML's emitter (libyaml's design, as go-yaml's is) writes the text; only the choices
above are go-yaml's.
"""
from __future__ import annotations

import functools
import math
import re

import yaml

from lb.kubectl.jsonpath import JSONPathError, find, go_json, parse
from lb.kubectl.tabwriter import table

_STR_TAG = "tag:yaml.org,2002:str"
_GO_BOOL_NULL = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
    "FALSE", "on", "On", "ON", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN",
    ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
}
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$")
_GO_FLOAT = re.compile(r"^[-+]?(\d[\d_]*\.?[\d_]*|\.[\d_]+)([eE][-+]?\d+)?$|^[-+]?(inf|infinity|nan)$", re.I)
_GO_TIMESTAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([Tt ]\d{1,2}:\d{1,2}:\d{1,2}(\.\d*)?(Z|[-+]\d{1,2}(:\d{2})?)?)?$")
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")


def reads_back_as_other_than_text(s: str) -> bool:
    """Whether go-yaml v2 would read s, written plain, as a bool, null, number or timestamp."""
    if s in _GO_BOOL_NULL:
        return True
    if s[0] in "-+.0123456789" and (_GO_INT.match(s) or _GO_FLOAT.match(s)):
        return True
    return bool(_GO_TIMESTAMP.match(s) or _BASE60.match(s))


class _GoYamlDumper(yaml.SafeDumper):
    def resolve(self, kind, value, implicit):
        # plain text is text unless go-yaml would read it otherwise; numbers, bools and nulls
        # (represented by the base class) keep their own tags and stay plain
        if kind is yaml.ScalarNode and implicit[0] and not reads_back_as_other_than_text(value):
            return _STR_TAG
        return super().resolve(kind, value, implicit)


def _represent_str(dumper, text: str):
    style = None
    if "\n" in text:
        style = "|"
    elif reads_back_as_other_than_text(text):
        style = '"'
    return dumper.represent_scalar(_STR_TAG, text, style=style)


def _represent_float(dumper, value: float):
    if math.isfinite(value) and value.is_integer():
        return dumper.represent_int(int(value))     # JSON has no integer type: 2.0 reads back as 2
    return dumper.represent_float(value)


def _represent_map(dumper, mapping: dict):
    items = sorted(mapping.items(), key=lambda kv: _GoKey(str(kv[0])))
    return dumper.represent_mapping("tag:yaml.org,2002:map", items)


_GoYamlDumper.add_representer(str, _represent_str)
_GoYamlDumper.add_representer(float, _represent_float)
_GoYamlDumper.add_representer(dict, _represent_map)


@functools.total_ordering
class _GoKey:
    """go-yaml v2's map key order (keyList.Less)."""

    def __init__(self, text: str):
        self.runes = text

    def __eq__(self, other) -> bool:
        return self.runes == other.runes

    def __lt__(self, other) -> bool:
        a, b = self.runes, other.runes
        for i in range(min(len(a), len(b))):
            if a[i] == b[i]:
                continue
            a_letter, b_letter = a[i].isalpha(), b[i].isalpha()
            if a_letter and b_letter:
                return a[i] < b[i]
            if a_letter or b_letter:
                return b_letter
            an = bn = 0
            if a[i] == "0" or b[i] == "0":
                j = i - 1
                while j >= 0 and a[j].isdigit():
                    if a[j] != "0":
                        an = bn = 1
                        break
                    j -= 1
            ai = i
            while ai < len(a) and a[ai].isdigit():
                an = an * 10 + int(a[ai])
                ai += 1
            bi = i
            while bi < len(b) and b[bi].isdigit():
                bn = bn * 10 + int(b[bi])
                bi += 1
            if an != bn:
                return an < bn
            if ai != bi:
                return ai < bi
            return a[i] < b[i]
        return len(a) < len(b)


def go_yaml(doc) -> str:
    return yaml.dump(doc, Dumper=_GoYamlDumper, default_flow_style=False, allow_unicode=True, width=80)


def without_managed_fields(doc):
    """The object as kubectl shows it without --show-managed-fields (a List's items too)."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    if isinstance(out.get("metadata"), dict) and "managedFields" in out["metadata"]:
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "managedFields"}
    if isinstance(out.get("items"), list):
        out["items"] = [without_managed_fields(item) for item in out["items"]]
    return out


# --- -o custom-columns --------------------------------------------------------------

_COLUMN_PATH = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def parse_custom_columns(spec: str) -> list[tuple[str, list]]:
    """"NAME:.metadata.name,PORT:.spec.ports[*].port" -> [(header, parsed path)].
    Raises ValueError in kubectl's words."""
    if not spec:
        raise ValueError("custom-columns format specified but no custom columns given")
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep:
            raise ValueError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        m = _COLUMN_PATH.match(path)
        if path and not m:
            raise ValueError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                             "'{name1.name2}' or '{.name1.name2}'")
        nodes = parse("{." + (m[1] or m[2]) + "}") if path else []
        columns.append((header, nodes[0].steps if nodes else []))
    return columns


def custom_columns(columns: list[tuple[str, list]], docs: list) -> str:
    rows = []
    for doc in docs:
        row = []
        for _, steps in columns:
            values = find(steps, doc) if steps else []
            row.append(",".join(go_sprint(v) for v in values) if values else "<none>")
        rows.append(row)
    return table([h for h, _ in columns], rows)


def go_sprint(value) -> str:
    """fmt.Sprint of decoded JSON, as custom columns print a cell: map[a:1 b:2], [x y]."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)


__all__ = ["JSONPathError", "custom_columns", "go_json", "go_sprint", "go_yaml", "parse_custom_columns",
           "reads_back_as_other_than_text", "without_managed_fields"]
