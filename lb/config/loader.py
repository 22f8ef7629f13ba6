"""Reading manifest files (and standard input, `-f -`): YAML or JSON documents, with the line
of every field.

A file becomes a FileResult: the model objects it holds, the errors and warnings
about it (worded as kubectl and the API server word them), the kinds it skipped.
Nothing a user writes makes this raise: bad YAML, a list where a mapping belongs,
a wrong apiVersion or an invalid field all end up as Diagnostics.

Parsing keeps PyYAML's nodes (libyaml's CSafeLoader when built in) so every field
path ("spec.ports[0].nodePort") maps to its 1-based line. Scalars are read as
kubectl's YAML 1.1 reader reads them: unquoted yes/no/on/off are booleans and 0755
is octal (so a label `enabled: yes` is an error, as it is with kubectl), while
timestamps stay strings.
"""
from __future__ import annotations

import gc
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Iterable

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from lb.config.build import build_objects
from lb.config.model import ManifestObject, Source
from lb.config.validate import GoText, go_value
from lb.diagnostics import ERROR, WARNING, Diagnostic, errors_of, invalid

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"                 # -f - reads standard input
STDIN_NAME = "STDIN"        # what diagnostics call it, as kubectl does ("error parsing STDIN: ...")
URL_SCHEMES = ("http://", "https://")
_MAP_KEY = re.compile(r"^(.*)\[([^\]]*[^\]\d][^\]]*)\]$")  # a map key, not a list index
MAX_NODES = 500_000     # per object; alias bombs ("billion laughs") stop here instead of eating memory

# The kinds lb reads, and the apiVersions the API server serves them under.
KINDS = {
    "Service": ("v1",),
    "Endpoints": ("v1",),
    "Pod": ("v1",),
    "Namespace": ("v1",),
    "EndpointSlice": ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"),
}
DEPRECATED_VERSIONS = {
    ("discovery.k8s.io/v1beta1", "EndpointSlice"):
        "discovery.k8s.io/v1beta1 EndpointSlice is deprecated in v1.21+, unavailable in v1.25+; "
        "use discovery.k8s.io/v1 EndpointSlice",
}


@dataclass(frozen=True)
class FileResult:
    path: str
    objects: tuple[ManifestObject, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    skipped: tuple[str, ...] = ()     # 'x.yaml:3: skipped apps/v1 Deployment "study/web"'
    mtime: float = 0.0

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return errors_of(self.diagnostics)


def load_paths(paths: Iterable[str], stdin: FileResult | None = None) -> list[FileResult]:
    """Every manifest file under paths, in sorted order. Folders are read
    recursively (*.yaml, *.yml, *.json; hidden entries such as a ConfigMap
    volume's ..data are skipped); a named file is read whatever its suffix; a
    missing path gives a FileResult with one error. "-" is standard input, read
    once: `stdin` is what an earlier call read from it (lb run reloads the files only)."""
    results, seen = [], set()
    for path in paths:
        if path == STDIN:
            files = [STDIN]
        elif os.path.isdir(path):
            files = sorted(_walk(path))
        else:
            files = [path]
        for name in files:
            if name not in seen:
                seen.add(name)
                results.append((stdin or load_stdin()) if name == STDIN else load_file(name))
    return results


def check_paths(paths: Iterable[str]) -> None:
    """Raise ValueError, in kubectl's words, for a path that is not there or a URL."""
    for path in paths:
        if path.startswith(URL_SCHEMES):
            raise ValueError(f'error: lb reads manifests from files and standard input, not URLs: "{path}": '
                             f"fetch it yourself and read what you fetched (curl -fsSL URL | lb validate -f -)")
        if path != STDIN and not os.path.exists(path):
            raise ValueError(f'error: the path "{path}" does not exist')


def _walk(folder: str) -> Iterable[str]:
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.endswith(MANIFEST_SUFFIXES) and not name.startswith("."):
                yield os.path.join(root, name)


def load_file(path: str) -> FileResult:
    """One file, every document in it. Never raises for what the file holds."""
    try:
        mtime = os.stat(path).st_mtime
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return FileResult(path, diagnostics=(_error(path, 0, f'the path "{path}" does not exist'),))
    except OSError as e:
        return FileResult(path, diagnostics=(_error(path, 0, f"cannot read: {e.strerror or e}"),))
    return load_bytes(path, data, mtime)


def load_stdin() -> FileResult:
    """Standard input (`-f -`), named STDIN in every diagnostic as kubectl names it; its
    AGE counts from now, as for a file written now."""
    try:
        data = sys.stdin.buffer.read()
    except (OSError, AttributeError, ValueError) as e:   # closed, or not a byte stream
        return FileResult(STDIN_NAME, diagnostics=(_error(STDIN_NAME, 0, f"cannot read: {e}"),))
    return load_bytes(STDIN_NAME, data, time.time())


def load_bytes(path: str, data: bytes, mtime: float) -> FileResult:
    """The documents in data, read from path (a file name, or STDIN)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return FileResult(path, diagnostics=(_error(path, line, f"invalid UTF-8 at byte {e.start}"),), mtime=mtime)
    if path.endswith(".json") or (path == STDIN_NAME and text.lstrip().startswith("{")):
        # A tab can only be whitespace in JSON (tabs in strings are escaped), but
        # YAML refuses tabs as indentation: make them spaces, lines unchanged.
        text = text.replace("\t", " ")
    reader = _FileReader(path, mtime)
    # Parsing makes millions of small objects and no cycles; the cyclic GC would
    # walk them again and again (a 10,000-Service file loads in half the time without it).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        reader.read(text)
    finally:
        if gc_was_enabled:
            gc.enable()
    return FileResult(path, tuple(reader.objects), tuple(reader.diagnostics), tuple(reader.skipped), mtime)


def _error(path: str, line: int, message: str, column: int | None = None) -> Diagnostic:
    return Diagnostic(ERROR, path, line, message, column=column)


class _Constructor(SafeConstructor):
    """Scalars as kubectl reads them: timestamps stay the text that was written."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


class _DocumentError(Exception):
    def __init__(self, node, message: str) -> None:
        super().__init__(message)
        self.line, self.column = node.start_mark.line + 1, node.start_mark.column + 1


class _Document:
    """One object's plain data plus the line of each of its fields."""

    def __init__(self) -> None:
        self.constructor = _Constructor()       # per object: its cache keeps nodes alive
        self.lines: dict[str, int] = {}
        self.duplicates: list[str] = []
        self.budget = MAX_NODES
        self.open: set[int] = set()

    def convert(self, node, path: str = ""):
        self.budget -= 1
        if self.budget < 0:
            raise _DocumentError(node, "document too large (aliases expand to more than "
                                       f"{MAX_NODES} nodes)")
        if isinstance(node, ScalarNode):
            return self.constructor.construct_object(node)
        if id(node) in self.open:
            raise _DocumentError(node, "recursive alias: a node contains itself")
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    child = f"{path}[{i}]"
                    self.lines[child] = item.start_mark.line + 1
                    out.append(self.convert(item, child))
                return out
            self.constructor.flatten_mapping(node)      # YAML merge keys (<<)
            result: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise _DocumentError(key_node, "a mapping key must be a scalar")
                key = str(key_node.value)
                child = f"{path}.{key}" if path else key
                if key in result:
                    self.duplicates.append(child)
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, child)
            return result
        finally:
            self.open.discard(id(node))


def _scalar_child(node, key: str):
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return v
    return None


class _FileReader:
    def __init__(self, path: str, mtime: float) -> None:
        self.path, self.mtime = path, mtime
        self.objects: list[ManifestObject] = []
        self.diagnostics: list[Diagnostic] = []
        self.skipped: list[str] = []

    def read(self, text: str) -> None:
        try:
            for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
                self._document(node, index)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            message = e.problem or "invalid YAML"
            if e.context:
                message += f" ({e.context})"
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, None)
            lines = text.splitlines() if mark else []
            if mark and mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t":
                message += " (a tab: YAML indents with spaces only)"
            self.diagnostics.append(_error(self.path, line, message, column))
        except yaml.YAMLError as e:
            self.diagnostics.append(_error(self.path, 0, f"invalid YAML: {e}"))

    def _document(self, node, index: int) -> None:
        if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            return          # an empty document, or only comments
        if not isinstance(node, MappingNode):
            what = "a list" if isinstance(node, SequenceNode) else "a scalar"
            self.diagnostics.append(_error(
                self.path, node.start_mark.line + 1,
                f"document {index + 1} is {what}, not a Kubernetes object (a mapping with apiVersion and kind)"))
            return
        kind_node, items_node = _scalar_child(node, "kind"), _scalar_child(node, "items")
        kind = kind_node.value if isinstance(kind_node, ScalarNode) else None
        if kind and kind.endswith("List") and isinstance(items_node, SequenceNode):
            self._list(node, kind, items_node, index)
        else:
            self._object(node, index, None)

    def _list(self, node, kind: str, items_node, index: int) -> None:
        """kind: List (kubectl get -o yaml), or a typed list such as ServiceList
        whose items may leave out their own apiVersion and kind."""
        api_node = _scalar_child(node, "apiVersion")
        inherit = None
        if kind != "List" and isinstance(api_node, ScalarNode):
            inherit = (api_node.value, kind[: -len("List")])
        for item in items_node.value:
            if not isinstance(item, MappingNode):
                self.diagnostics.append(_error(self.path, item.start_mark.line + 1,
                                               f"items of a {kind} must be Kubernetes objects (mappings)"))
                continue
            self._object(item, index, inherit)

    def _object(self, node, index: int, inherit: tuple[str, str] | None) -> None:
        doc = _Document()
        first = node.value[0][0] if node.value else node     # the first key, not a flow mapping's "{"
        line = first.start_mark.line + 1
        try:
            obj = doc.convert(node)
        except _DocumentError as e:
            self.diagnostics.append(_error(self.path, e.line, str(e), e.column))
            return
        except RecursionError:
            self.diagnostics.append(_error(self.path, line, "document nested too deeply"))
            return
        except yaml.MarkedYAMLError as e:      # an unknown tag such as !Ref
            mark = e.problem_mark or e.context_mark
            self.diagnostics.append(_error(self.path, mark.line + 1 if mark else line, e.problem or str(e),
                                           mark.column + 1 if mark else None))
            return
        if inherit:
            obj.setdefault("apiVersion", inherit[0])
            obj.setdefault("kind", inherit[1])
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        missing = [f"{name} not set" for name, value in (("apiVersion", api_version), ("kind", kind))
                   if not value or not isinstance(value, str)]
        if missing:
            text = missing[0] if len(missing) == 1 else "[" + ", ".join(missing) + "]"
            self.diagnostics.append(_error(self.path, line, f"error validating data: {text}"))
            return
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = meta.get("name") if isinstance(meta.get("name"), str) else ""
        namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
        if kind not in KINDS:
            shown = f"{namespace}/{name}" if namespace else name
            self.skipped.append(f'{self.path}:{line}: skipped {api_version} {kind} "{shown}"')
        elif api_version not in KINDS[kind]:
            self.diagnostics.append(_error(self.path, line, f'no matches for kind "{kind}" in version "{api_version}"'))
        else:
            source = Source(self.path, line, index, self.mtime, doc.lines)
            scope = None if kind == "Namespace" else namespace or "default"
            self._accept(obj, doc, source, kind, api_version, _Naming(kind, scope, name, doc.lines))

    def _accept(self, obj: dict, doc: _Document, source: Source, kind: str, api_version: str,
                naming: _Naming) -> None:
        """Strict decoding (unknown fields, types), then defaulting, validation and
        the model objects; an object with any error yields no object."""
        deprecated = DEPRECATED_VERSIONS.get((api_version, kind))
        diagnostics = [naming.diag(source, WARNING, None, deprecated)] if deprecated else []
        diagnostics += [naming.diag(source, WARNING, f, f'duplicate field "{f}"') for f in doc.duplicates]
        unknown, wrong_types = check_fields(obj, schema_for(kind, api_version))
        diagnostics += [naming.diag(source, WARNING, f, f'unknown field "{f}"') for f in unknown]
        if wrong_types:
            # The API server cannot decode such an object, so nothing more is checked.
            diagnostics += [naming.diag(source, ERROR, f, m) for f, m in wrong_types]
        else:
            result = build_objects(kind, obj, source)
            diagnostics += [naming.diag(source, WARNING, f, m) for f, m in result.warnings]
            diagnostics += [naming.diag(source, ERROR, f, m) for f, m in result.errors]
            self.objects += result.objects
        self.diagnostics += diagnostics


@dataclass(frozen=True)
class _Naming:
    """Who a diagnostic is about, and where its field was written."""
    kind: str
    namespace: str | None
    name: str
    lines: dict

    def diag(self, source: Source, severity: str, field: str | None, message: str) -> Diagnostic:
        lookup = (field or "").replace("LoadBalancerSourceRanges", "loadBalancerSourceRanges")
        if lookup.startswith("spec.clusterIPs") and "spec.clusterIPs" not in self.lines:
            lookup = "spec.clusterIP"       # clusterIPs was filled in from clusterIP
        key = _MAP_KEY.match(lookup)
        if key:     # metadata.labels[app] is recorded as metadata.labels.app
            lookup = f"{key[1]}.{key[2]}"
        return Diagnostic(severity, source.path, source.line_of(lookup), message, field,
                          self.kind, self.namespace, self.name)


# ---- the fields each kind may hold, and their JSON types (kubectl's strict decoding) ----

STR, INT, BOOL, ANY, INT_OR_STR = "string", "integer", "boolean", "any", "integer or string"


class Open(dict):
    """A struct whose fields beyond those listed are accepted silently (Pod: lb
    reads only a few of its many fields)."""


class MapOf:
    """A map with free-form keys (labels, selector, annotations)."""

    def __init__(self, value: str) -> None:
        self.value = value


_STRMAP = MapOf(STR)
_META = {
    "name": STR, "generateName": STR, "namespace": STR, "labels": _STRMAP, "annotations": _STRMAP,
    "uid": STR, "resourceVersion": STR, "generation": INT, "creationTimestamp": STR,
    "deletionTimestamp": STR, "deletionGracePeriodSeconds": INT, "ownerReferences": [ANY],
    "finalizers": [STR], "managedFields": [ANY], "selfLink": STR,
}
_TYPE_META = {"apiVersion": STR, "kind": STR, "metadata": _META}
_TARGET_REF = {"kind": STR, "namespace": STR, "name": STR, "uid": STR, "apiVersion": STR,
               "resourceVersion": STR, "fieldPath": STR}
_SERVICE = {**_TYPE_META, "spec": {
    "ports": [{"name": STR, "protocol": STR, "appProtocol": STR, "port": INT, "targetPort": INT_OR_STR,
               "nodePort": INT}],
    "selector": _STRMAP, "clusterIP": STR, "clusterIPs": [STR], "type": STR, "externalIPs": [STR],
    "sessionAffinity": STR, "loadBalancerIP": STR, "loadBalancerSourceRanges": [STR], "externalName": STR,
    "externalTrafficPolicy": STR, "healthCheckNodePort": INT, "publishNotReadyAddresses": BOOL,
    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": INT}}, "ipFamilies": [STR],
    "ipFamilyPolicy": STR, "allocateLoadBalancerNodePorts": BOOL, "loadBalancerClass": STR,
    "internalTrafficPolicy": STR, "trafficDistribution": STR,
}, "status": {
    "loadBalancer": {"ingress": [{"ip": STR, "hostname": STR, "ipMode": STR,
                                  "ports": [{"port": INT, "protocol": STR, "error": STR}]}]},
    "conditions": [ANY],
}}
_ENDPOINT_ADDRESS = {"ip": STR, "hostname": STR, "nodeName": STR, "targetRef": _TARGET_REF}
_ENDPOINTS = {**_TYPE_META, "subsets": [{
    "addresses": [_ENDPOINT_ADDRESS], "notReadyAddresses": [_ENDPOINT_ADDRESS],
    "ports": [{"name": STR, "port": INT, "protocol": STR, "appProtocol": STR}],
}]}
_SLICE_ENDPOINT = {
    "addresses": [STR], "conditions": {"ready": BOOL, "serving": BOOL, "terminating": BOOL},
    "hostname": STR, "targetRef": _TARGET_REF, "nodeName": STR, "zone": STR,
    "hints": {"forZones": [{"name": STR}], "forNodes": [{"name": STR}]}, "deprecatedTopology": _STRMAP,
}
_SLICE_PORTS = [{"name": STR, "protocol": STR, "port": INT, "appProtocol": STR}]
_SLICE = {**_TYPE_META, "addressType": STR, "endpoints": [_SLICE_ENDPOINT], "ports": _SLICE_PORTS}
_SLICE_V1BETA1 = {**_SLICE, "endpoints": [{
    **{k: v for k, v in _SLICE_ENDPOINT.items() if k not in ("zone", "deprecatedTopology")},
    "topology": _STRMAP}]}
_POD = {**_TYPE_META, "spec": Open({
    "containers": [Open({"name": STR, "ports": [{"name": STR, "containerPort": INT, "protocol": STR,
                                                  "hostPort": INT, "hostIP": STR}]})],
    "nodeName": STR, "hostname": STR, "subdomain": STR,
}), "status": Open({
    "phase": STR, "podIP": STR, "podIPs": [{"ip": STR}], "hostIP": STR,
    "conditions": [Open({"type": STR, "status": STR})],
})}
_NAMESPACE = {**_TYPE_META, "spec": {"finalizers": [STR]},
              "status": {"phase": STR, "conditions": [ANY]}}
_SCHEMAS = {"Service": _SERVICE, "Endpoints": _ENDPOINTS, "EndpointSlice": _SLICE, "Pod": _POD,
            "Namespace": _NAMESPACE}


def schema_for(kind: str, api_version: str):
    if kind == "EndpointSlice" and api_version.endswith("v1beta1"):
        return _SLICE_V1BETA1
    return _SCHEMAS[kind]


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _shown(value):
    """A wrongly typed value as the API server would print it."""
    if isinstance(value, bool):
        return go_value(value)
    if isinstance(value, (dict, list)):
        return GoText(_json_type(value))
    return value


def check_fields(value, schema, path: str = "") -> tuple[list[str], list[tuple[str, str]]]:
    """(unknown field paths, (field, message) type errors) of value against schema.
    null is accepted anywhere, as the API server's JSON decoding takes it for unset."""
    unknown: list[str] = []
    errors: list[tuple[str, str]] = []
    _check(value, schema, path, unknown, errors)
    return unknown, errors


def _check(value, schema, path, unknown, errors) -> None:
    """Also normalises nulls as Go's JSON decoding does: a null field is unset (the
    key is dropped), a null list item or map value is its type's zero value."""
    if value is None or schema == ANY:
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            errors.append((path, _type_error(value, "object")))
            return
        for key in [k for k, item in value.items() if item is None]:
            del value[key]
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if key in schema:
                _check(item, schema[key], child, unknown, errors)
            elif not isinstance(schema, Open):
                unknown.append(child)
    elif isinstance(schema, list):
        if not isinstance(value, list):
            errors.append((path, _type_error(value, "array")))
            return
        for i, item in enumerate(value):
            if item is None and (isinstance(schema[0], dict) or schema[0] == STR):
                value[i] = item = {} if isinstance(schema[0], dict) else ""
            _check(item, schema[0], f"{path}[{i}]", unknown, errors)
    elif isinstance(schema, MapOf):
        if not isinstance(value, dict):
            errors.append((path, _type_error(value, "object")))
            return
        for key, item in value.items():
            if item is None:
                value[key] = ""
            else:
                _check(item, schema.value, f"{path}[{key}]", unknown, errors)
    else:
        ok = {STR: isinstance(value, str),
              INT: isinstance(value, int) and not isinstance(value, bool),
              BOOL: isinstance(value, bool),
              INT_OR_STR: isinstance(value, (int, str)) and not isinstance(value, bool)}[schema]
        if not ok:
            errors.append((path, _type_error(value, schema)))


def _type_error(value, expected: str) -> str:
    got = _json_type(value)
    hint = ""
    if expected == STR and got in ("boolean", "integer", "number"):
        hint = " (YAML reads unquoted yes/no/on/off/true/false and numbers as non-strings: quote the value)"
    return invalid(_shown(value), f"expected {expected}, got {got}{hint}")
