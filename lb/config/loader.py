"""Reading manifest files: YAML or JSON documents, each field findable by its line.

A file becomes a FileResult: the model objects it holds, the errors and warnings about it
(worded as kubectl and the API server word them), the kinds it skipped. Nothing a user
writes makes this raise: a FIFO or device named *.yaml, a file over the size limit, bad
UTF-8 or YAML, a list where a mapping belongs, a wrong apiVersion or an invalid field all
end up as Diagnostics.

A ManifestReader keeps what it read: reading a file again parses only the documents whose
text changed (lb.config.documents splits files into documents first), and objects of
unchanged documents come back as the very same objects, so what depends on them can tell
by identity that nothing changed.
"""
from __future__ import annotations

import gc
import os
import re
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

from lb.config import documents
from lb.config.build import build_objects
from lb.config.documents import YAMLProblem
from lb.config.model import ManifestObject
from lb.config.schema import check_fields, schema_for
from lb.config.source import Document, Source
from lb.diagnostics import ERROR, WARNING, Diagnostic, errors_of

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024     # far above real manifests; bounds memory per file
MAX_LIST_DEPTH = 8                             # a List inside a List inside ...: flattened, to a point

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
_MAP_KEY = re.compile(r"^(.*)\[([^\]]*[^\]\d][^\]]*)\]$")  # a map key, not a list index
_FILE_TYPES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


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


def load_paths(paths: Iterable[str], max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[FileResult]:
    """Every manifest file under paths, read once (see ManifestReader.read_paths)."""
    return ManifestReader(max_bytes).read_paths(paths)


def load_file(path: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> FileResult:
    return ManifestReader(max_bytes).read(path)


def manifest_files(paths: Iterable[str]) -> list[str]:
    """The files under paths, in order: a folder recursively (*.yaml, *.yml, *.json, sorted;
    hidden entries such as a ConfigMap volume's ..data are skipped), a named file whatever
    its suffix, a missing path as it is (reading it reports it)."""
    out, seen = [], set()
    for path in paths:
        files = sorted(_walk(path)) if os.path.isdir(path) else [path]
        for name in files:
            if name not in seen:
                seen.add(name)
                out.append(name)
    return out


def _walk(folder: str) -> Iterable[str]:
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.endswith(MANIFEST_SUFFIXES) and not name.startswith("."):
                yield os.path.join(root, name)


class _Read:
    """What one document yielded, with lines relative to its Document (moved, not rebuilt)."""
    __slots__ = ("document", "objects", "diagnostics", "skipped", "made_at")

    def __init__(self, document: Document):
        self.document = document
        self.objects: list[ManifestObject] = []
        self.diagnostics: list[Diagnostic] = []
        self.skipped: list[tuple[int, str]] = []      # (line, text after "file:line: ")
        self.made_at = document.line                 # the document's line when diagnostics were made


class ManifestReader:
    """Reads manifest files and remembers each file's documents by their text."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_FILE_BYTES):
        self.max_bytes = max_bytes
        self._documents: dict[str, dict[tuple[str, int], _Read]] = {}

    def read_paths(self, paths: Iterable[str]) -> list[FileResult]:
        files = manifest_files(paths)
        for gone in set(self._documents) - set(files):
            del self._documents[gone]
        with paused_gc():
            return [self.read(name) for name in files]

    def forget(self, path: str) -> None:
        self._documents.pop(path, None)

    def read(self, path: str) -> FileResult:
        """One file, every document in it. Never raises for what the file holds."""
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return FileResult(path, diagnostics=(_error(path, 0, f'the path "{path}" does not exist'),))
        except OSError as e:
            return FileResult(path, diagnostics=(_error(path, 0, f"cannot read: {e.strerror or e}"),))
        what = next((name for test, name in _FILE_TYPES if test(info.st_mode)), None)
        if what is not None:
            return FileResult(path, diagnostics=(_error(path, 0, f"not a regular file ({what}): lb reads "
                                                        "manifests from regular files only; skipped"),))
        if info.st_size > self.max_bytes:
            return FileResult(path, diagnostics=(_error(path, 0, _too_big(info.st_size, self.max_bytes)),),
                              mtime=info.st_mtime)
        try:
            with open(path, "rb") as f:
                data = f.read(self.max_bytes + 1)        # the file may grow after stat
        except OSError as e:
            return FileResult(path, diagnostics=(_error(path, 0, f"cannot read: {e.strerror or e}"),))
        if len(data) > self.max_bytes:
            return FileResult(path, diagnostics=(_error(path, 0, _too_big(len(data), self.max_bytes)),),
                              mtime=info.st_mtime)
        return self.read_text(path, data, info.st_mtime)

    def read_text(self, path: str, data: bytes, mtime: float = 0.0) -> FileResult:
        """A file's content, as read from path (or from stdin under a name such as "-")."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            return FileResult(path, diagnostics=(_error(path, line, f"invalid UTF-8 at byte {e.start}"),),
                              mtime=mtime)
        try:
            documents.check_printable(text)
        except YAMLProblem as e:
            return FileResult(path, diagnostics=(_error(path, e.line, str(e), e.column),), mtime=mtime)
        if path.endswith(".json"):
            # A tab can only be whitespace in JSON (tabs in strings are escaped), but
            # YAML refuses tabs as indentation: make them spaces, lines unchanged.
            text = text.replace("\t", " ")
        pieces = documents.split(text)
        if pieces is None:
            self._documents.pop(path, None)
            reads = _read_stream(path, text, mtime)
        else:
            reads = self._read_pieces(path, pieces, mtime)
        objects = tuple(obj for r in reads for obj in r.objects)
        diagnostics = tuple(d for r in reads for d in _shifted(r))
        skipped = tuple(f"{path}:{r.document.line + line}: {text}" for r in reads for line, text in r.skipped)
        return FileResult(path, objects, diagnostics, skipped, mtime)

    def _read_pieces(self, path: str, pieces: list[tuple[int, str]], mtime: float) -> list[_Read]:
        """One _Read per document, parsing only the texts not read last time (the same text
        twice in a file is told apart by its occurrence)."""
        old = self._documents.get(path, {})
        new: dict[tuple[str, int], _Read] = {}
        occurrences: dict[str, int] = {}
        reads = []
        for index, (line, piece) in enumerate(pieces):
            nth = occurrences.get(piece, 0)
            occurrences[piece] = nth + 1
            read = old.get((piece, nth))
            if read is None:
                read = _read_document(Document(path, index, line + 1, piece, mtime))
            else:
                doc = read.document
                doc.index, doc.line, doc.mtime = index, line + 1, mtime
            new[(piece, nth)] = read
            reads.append(read)
        self._documents[path] = new
        return reads


@contextmanager
def paused_gc():
    """Loading makes millions of small objects and no cycles; the cyclic GC would walk them
    again and again (a 10,000-Service file loads in about 60 % of the time without it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _too_big(size: int, limit: int) -> str:
    return (f"file is {size:,} bytes, over the limit of {limit:,} (--max-manifest-bytes); "
            "lb does not read it")


def _error(path: str, line: int, message: str, column: int | None = None) -> Diagnostic:
    return Diagnostic(ERROR, path, line, message, column=column)


def _shifted(read: _Read) -> list[Diagnostic]:
    """read's diagnostics at the document's current line (it may have moved since)."""
    delta = read.document.line - read.made_at
    if not delta or not read.diagnostics:
        return read.diagnostics
    read.diagnostics = [Diagnostic(d.severity, d.path, d.line + delta if d.line else 0, d.message, d.field,
                                   d.kind, d.namespace, d.name, d.column) for d in read.diagnostics]
    read.made_at = read.document.line
    return read.diagnostics


# --- one document's objects ---------------------------------------------------------

def _read_document(document: Document) -> _Read:
    read = _Read(document)
    try:
        parsed = documents.compose(document.text)
    except YAMLProblem as e:
        read.diagnostics.append(_error(document.path, document.line + e.line - 1 if e.line else 0, str(e),
                                       e.column))
        return read
    _objects_of(read, parsed)
    return read


def _read_stream(path: str, text: str, mtime: float) -> list[_Read]:
    """A file that documents.split() could not cut: its documents one by one, lines relative
    to the file; those before a YAML error still count."""
    reads: list[_Read] = []
    index = 0
    try:
        for parsed in documents.compose_stream(text):
            read = _Read(Document(path, index, 1, mtime=mtime, lines=(parsed.lines if parsed else None) or {}))
            _objects_of(read, parsed)
            reads.append(read)
            index += 1
    except YAMLProblem as e:
        read = _Read(Document(path, index, 1, mtime=mtime, lines={}))
        read.diagnostics.append(_error(path, e.line, str(e), e.column))
        reads.append(read)
    return reads


def _objects_of(read: _Read, parsed) -> None:
    doc = read.document
    if parsed is None or parsed.root is None:
        return          # an empty document, or only comments
    root = parsed.root
    if not isinstance(root, dict):
        what = "a list" if isinstance(root, list) else "a scalar"
        if parsed.lines is None:          # the fast path keeps no marks: ask the slow one where
            parsed = documents.compose_with_lines(doc.text) or parsed
        line = doc.line + parsed.root_line
        read.diagnostics.append(_error(doc.path, line, f"document {doc.index + 1} is {what}, not a Kubernetes "
                                       "object (a mapping with apiVersion and kind)"))
        return
    _object_or_list(read, parsed, root, "", None, 0)


def _object_or_list(read: _Read, parsed, obj: dict, prefix: str, inherit, depth: int) -> None:
    kind, items = obj.get("kind"), obj.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        _list(read, parsed, obj, kind, items, prefix, depth)
    else:
        _object(read, parsed, obj, prefix, inherit)


def _list(read: _Read, parsed, obj: dict, kind: str, items: list, prefix: str, depth: int) -> None:
    """kind: List (kubectl get -o yaml), or a typed list such as ServiceList whose items may
    leave out their own apiVersion and kind. A List inside a List is flattened, as kubectl does."""
    doc = read.document
    api = obj.get("apiVersion")
    inherit = (api, kind[: -len("List")]) if kind != "List" and isinstance(api, str) else None
    for i, item in enumerate(items):
        where = f"{prefix}.items[{i}]" if prefix else f"items[{i}]"
        line = doc.line + (doc.field_line(where) or 0)
        if not isinstance(item, dict):
            read.diagnostics.append(_error(doc.path, line, f"items of a {kind} must be Kubernetes objects (mappings)"))
        elif depth + 1 >= MAX_LIST_DEPTH and str(item.get("kind", "")).endswith("List"):
            read.diagnostics.append(_error(doc.path, line, f"Lists nested more than {MAX_LIST_DEPTH} deep"))
        else:
            _object_or_list(read, parsed, item, where, inherit, depth + 1)


def _object(read: _Read, parsed, obj: dict, prefix: str, inherit) -> None:
    doc = read.document
    offset = parsed.first_lines.get(id(obj))
    if offset is None:
        offset = doc.field_line(prefix) or 0
    source = Source(doc, prefix, offset)
    if inherit:
        obj.setdefault("apiVersion", inherit[0])
        obj.setdefault("kind", inherit[1])
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    missing = [f"{name} not set" for name, value in (("apiVersion", api_version), ("kind", kind))
               if not value or not isinstance(value, str)]
    if missing:
        text = missing[0] if len(missing) == 1 else "[" + ", ".join(missing) + "]"
        read.diagnostics.append(_error(doc.path, source.line, f"error validating data: {text}"))
        return
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
    if kind not in KINDS:
        shown = f"{namespace}/{name}" if namespace else name
        read.skipped.append((offset, f'skipped {api_version} {kind} "{shown}"'))
    elif api_version not in KINDS[kind]:
        read.diagnostics.append(_error(doc.path, source.line,
                                       f'no matches for kind "{kind}" in version "{api_version}"'))
    else:
        scope = None if kind == "Namespace" else namespace or "default"
        duplicates = [d[len(prefix) + 1:] if prefix else d for d in parsed.duplicates
                      if not prefix or d.startswith(prefix + ".")]
        _accept(read, obj, source, kind, api_version, _Naming(kind, scope, name), duplicates)


def _accept(read: _Read, obj: dict, source: Source, kind: str, api_version: str, naming: "_Naming",
            duplicates: list[str]) -> None:
    """Strict decoding (unknown fields, types), then defaulting, validation and the model
    objects; an object with any error yields no object."""
    deprecated = DEPRECATED_VERSIONS.get((api_version, kind))
    diagnostics = [naming.diag(source, WARNING, None, deprecated)] if deprecated else []
    diagnostics += [naming.diag(source, WARNING, f, f'duplicate field "{f}"') for f in duplicates]
    unknown, wrong_types = check_fields(obj, schema_for(kind, api_version))
    diagnostics += [naming.diag(source, WARNING, f, f'unknown field "{f}"') for f in unknown]
    if wrong_types:
        # The API server cannot decode such an object, so nothing more is checked.
        diagnostics += [naming.diag(source, ERROR, f, m) for f, m in wrong_types]
    else:
        result = build_objects(kind, obj, source, owned=True)
        diagnostics += [naming.diag(source, WARNING, f, m) for f, m in result.warnings]
        diagnostics += [naming.diag(source, ERROR, f, m) for f, m in result.errors]
        read.objects += result.objects
    read.diagnostics += diagnostics


@dataclass(frozen=True)
class _Naming:
    """Who a diagnostic is about."""
    kind: str
    namespace: str | None
    name: str

    def diag(self, source: Source, severity: str, field: str | None, message: str) -> Diagnostic:
        lookup = (field or "").replace("LoadBalancerSourceRanges", "loadBalancerSourceRanges")
        if lookup.startswith("spec.clusterIPs") and not source.has_line("spec.clusterIPs"):
            lookup = "spec.clusterIP"       # clusterIPs was filled in from clusterIP
        key = _MAP_KEY.match(lookup)
        if key:     # metadata.labels[app] is recorded as metadata.labels.app
            lookup = f"{key[1]}.{key[2]}"
        return Diagnostic(severity, source.path, source.line_of(lookup), message, field,
                          self.kind, self.namespace, self.name)
