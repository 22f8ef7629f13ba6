"""Reading manifest files (and standard input, `-f -`): YAML or JSON documents, each field
findable by its line.

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

import bisect
import gc
import os
import re
import stat
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

from lb.config import documents
from lb.config.build import build_objects
from lb.config.documents import YAMLProblem
from lb.config.model import ManifestObject
from lb.config.schema import check_fields, schema_for
from lb.config.source import Document, File, Source
from lb.diagnostics import ERROR, WARNING, Diagnostic, errors_of

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"                 # -f - reads standard input
STDIN_NAME = "STDIN"        # what diagnostics call it, as kubectl does ("error parsing STDIN: ...")
URL_SCHEMES = ("http://", "https://")
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
_PRINTABLE_ASCII = bytes([9, 10, 13, *range(32, 127)])     # deleted by translate(): anything left is refused
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


def check_paths(paths: Iterable[str]) -> None:
    """Raise ValueError, in kubectl's words, for a path that is not there or a URL."""
    for path in paths:
        if path.startswith(URL_SCHEMES):
            raise ValueError(f'error: lb reads manifests from files and standard input, not URLs: "{path}": '
                             f"fetch it yourself and read what you fetched (curl -fsSL URL | lb validate -f -)")
        if path != STDIN and not os.path.exists(path):
            raise ValueError(f'error: the path "{path}" does not exist')


def manifest_files(paths: Iterable[str]) -> list[str]:
    """The files under paths, in order: a folder recursively (*.yaml, *.yml, *.json, sorted;
    hidden entries such as a ConfigMap volume's ..data are skipped), a named file whatever
    its suffix, a missing path as it is (reading it reports it), "-" for standard input."""
    out, seen = [], set()
    for path in paths:
        files = sorted(_walk(path)) if path != STDIN and os.path.isdir(path) else [path]
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
    """What one document yielded, with lines relative to its Document (moved, not rebuilt).
    numbered: a message names the document's number, so a move renumbers it: read it again."""
    __slots__ = ("document", "objects", "diagnostics", "skipped", "made_at", "numbered", "keep_manifests")

    def __init__(self, document: Document, keep_manifests: bool = True):
        self.document = document
        self.numbered = False
        self.keep_manifests = keep_manifests      # objects carry their defaulted manifest (kubectl -o yaml)
        # tuples, empty ones shared: 20,000 documents would otherwise hold 60,000 lists
        self.objects: tuple[ManifestObject, ...] = ()
        self.diagnostics: tuple[Diagnostic, ...] = ()
        self.skipped: tuple[tuple[int, str], ...] = ()    # (line, text after "file:line: ")
        self.made_at = document.line                 # the document's line when diagnostics were made


class _Piece:
    """A document's place in its file's text as last read: offset, and the read it gave."""
    __slots__ = ("offset", "text", "read")

    def __init__(self, offset: int, text: str, read: _Read):
        self.offset, self.text, self.read = offset, text, read


class _FileState:
    """A file's documents as last read; a re-read touches only what an edit changed. The text
    is not kept whole (its documents' texts hold it): it is joined again when compared."""
    __slots__ = ("file", "lead", "pieces", "length")

    def __init__(self, file: File, text: str, pieces: list[_Piece]):
        self.file, self.pieces, self.length = file, pieces, len(text)
        self.lead = text[:pieces[0].offset] if pieces else text     # comments before the first document

    @property
    def text(self) -> str:
        return self.lead + "".join(p.text for p in self.pieces)


class ManifestReader:
    """Reads manifest files and remembers each file's documents. keep_manifests: objects keep
    their defaulted manifest (what `lb get -o yaml` prints); a running lb does without them
    (they are most of a Service's memory)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_FILE_BYTES, keep_manifests: bool = True):
        self.max_bytes = max_bytes
        self.keep_manifests = keep_manifests
        self._files: dict[str, _FileState] = {}
        self.stdin: FileResult | None = None     # `-f -`: read once, the first time (lb run reloads files only)

    def read_paths(self, paths: Iterable[str]) -> list[FileResult]:
        files = manifest_files(paths)
        self.keep_only(files)
        with paused_gc():
            return [self.read(name) for name in files]

    def keep_only(self, files: Iterable[str]) -> None:
        """Forgets the documents of files not among files (gone from disk)."""
        for gone in self._files.keys() - set(files) - {STDIN_NAME}:
            del self._files[gone]

    def read(self, path: str) -> FileResult:
        """One file, every document in it. Never raises for what the file holds."""
        if path == STDIN:
            if self.stdin is None:
                self.stdin = self._read_stdin()
            return self.stdin
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

    def _read_stdin(self) -> FileResult:
        """Standard input (`-f -`), named STDIN in every diagnostic as kubectl names it; its
        AGE counts from now, as for a file written now."""
        try:
            data = sys.stdin.buffer.read(self.max_bytes + 1)
        except (OSError, AttributeError, ValueError) as e:   # closed, or not a byte stream
            return FileResult(STDIN_NAME, diagnostics=(_error(STDIN_NAME, 0, f"cannot read: {e}"),))
        if len(data) > self.max_bytes:
            return FileResult(STDIN_NAME, diagnostics=(_error(STDIN_NAME, 0, _too_big(len(data), self.max_bytes)),))
        return self.read_text(STDIN_NAME, data, time.time())

    def read_text(self, path: str, data: bytes, mtime: float = 0.0) -> FileResult:
        """A file's content, as read from path (or from stdin under a name such as "-")."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            return FileResult(path, diagnostics=(_error(path, line, f"invalid UTF-8 at byte {e.start}"),),
                              mtime=mtime)
        if path.endswith(".json") or (path == STDIN_NAME and text.lstrip().startswith("{")):
            # A tab can only be whitespace in JSON (tabs in strings are escaped), but
            # YAML refuses tabs as indentation: make them spaces, lines unchanged.
            text = text.replace("\t", " ")
        old = self._files.get(path)
        # A file read before is checked where it changed only: a reload costs the edit, not the file.
        edit = _Edit(old, text) if old is not None else None
        try:
            if edit is not None:
                edit.check_printable()
            elif not (data.isascii() and not data.translate(None, _PRINTABLE_ASCII)):
                documents.check_printable(text)
        except YAMLProblem as e:
            return FileResult(path, diagnostics=(_error(path, e.line, str(e), e.column),), mtime=mtime)
        if edit is not None and edit.none:
            reads = [p.read for p in old.pieces]
            old.file.mtime = mtime
        elif edit.whole_file() if edit is not None else documents.whole_file(text):
            self._files.pop(path, None)
            reads = _read_stream(File(path, mtime), text, self.keep_manifests)
        else:
            state = self._reread(old, edit, mtime) if old is not None else None
            state = state or _read_all(File(path, mtime), text, documents.split(text), old, self.keep_manifests)
            self._files[path] = state
            reads = [p.read for p in state.pieces]
        objects = tuple(obj for r in reads for obj in r.objects)
        diagnostics = tuple(d for r in reads if r.diagnostics for d in _shifted(r))
        skipped = tuple(f"{path}:{r.document.line + line}: {text}" for r in reads for line, text in r.skipped)
        return FileResult(path, objects, diagnostics, skipped, mtime)

    def _reread(self, old: _FileState, edit: "_Edit", mtime: float) -> _FileState | None:
        """The documents of text, given that old.text differs from it in one stretch: those
        before the edit stay as they are, those after it move, only those it touches are read.
        None when the edit is not local (then everything is split again)."""
        pieces = old.pieces
        if len(pieces) < 2:
            return None
        text, old_text, prefix, suffix = edit.text, edit.old_text, edit.prefix, edit.suffix
        # The first piece the edit may change: the one it starts in, or the one before when it
        # starts right at a piece's marker (that piece would grow over it).
        first = bisect.bisect_left(pieces, prefix, key=_offset) - 1
        old_end = len(old_text) - suffix
        last = max(bisect.bisect_left(pieces, old_end + 1, key=_offset), first + 1)   # the first piece after it
        if first < 1 or last >= len(pieces):
            return None          # the edit reaches the file's first or last piece: split all
        growth = len(text) - len(old_text)
        region_start = pieces[first].offset
        region_end = pieces[last].offset + growth
        if (region_end <= region_start or text[region_end - 1] != "\n"
                or not text.startswith(pieces[last].text, region_end)):
            return None
        middle = documents.split_region(text[region_start:region_end])
        if middle is None:
            return None
        file = old.file
        file.mtime = mtime
        line = pieces[first].read.document.line - 1            # 0-based line where the region starts
        reusable = {}
        for p in pieces[first:last]:
            reusable.setdefault(p.text, []).append(p.read)
        out = pieces[:first]
        index = first
        for offset, piece in middle:
            out.append(_Piece(region_start + offset, piece,
                              _reuse(reusable, file, piece, index, line + 1, self.keep_manifests)))
            line += piece.count("\n")
            index += 1
        shift_lines = line + 1 - pieces[last].read.document.line
        shift_index = index - last
        if not (shift_lines or shift_index or growth):
            out += pieces[last:]            # an edit in place: what follows did not move
            return _FileState(file, text, out)
        for p in pieces[last:]:
            doc = p.read.document
            doc.line += shift_lines
            doc.index += shift_index
            p.offset += growth
            if shift_index and p.read.numbered:
                p.read = _read_document(Document(file, doc.index, doc.line, p.text), self.keep_manifests)
            out.append(p)
        return _FileState(file, text, out)


def _reuse(reusable: dict[str, list[_Read]], file: File, piece: str, index: int, line: int,
           keep_manifests: bool) -> _Read:
    """The read of a document with this text from before (moved to index and line), else a new one."""
    candidates = reusable.get(piece)
    if candidates:
        read = candidates.pop()
        if not read.numbered or read.document.index == index:
            doc = read.document
            doc.index, doc.line = index, line
            return read
    return _read_document(Document(file, index, line, piece), keep_manifests)


def _read_all(file: File, text: str, pieces: list[tuple[int, str]], old: _FileState | None,
              keep_manifests: bool) -> _FileState:
    """One read per document, parsing only the texts not read last time."""
    reusable: dict[str, list[_Read]] = {}
    for p in old.pieces if old is not None else ():
        reusable.setdefault(p.text, []).append(p.read)
    if old is not None:
        old.file.mtime = file.mtime
        file = old.file
    out = []
    offset = 0
    for index, (line, piece) in enumerate(pieces):
        offset = text.index(piece, offset) if piece else offset
        out.append(_Piece(offset, piece, _reuse(reusable, file, piece, index, line + 1, keep_manifests)))
        offset += len(piece)
    return _FileState(file, text, out)


def _offset(piece: _Piece) -> int:
    return piece.offset


class _Edit:
    """How a file's new text differs from the text last read: one stretch, found from the
    longest common prefix and suffix, widened to whole lines."""
    __slots__ = ("text", "old_text", "prefix", "suffix", "none")

    def __init__(self, old: _FileState, text: str):
        self.text = text
        self.old_text = old_text = old.text
        self.none = old.length == len(text) and old_text == text
        self.prefix = self.suffix = len(text) if self.none else 0
        if not self.none:
            self.prefix = _common_prefix(old_text, text)
            self.suffix = _common_suffix(old_text, text, self.prefix)

    def region(self) -> tuple[int, str]:
        """(offset, text) of the lines of the new text the edit touches."""
        start = self.text.rfind("\n", 0, self.prefix) + 1
        end = self.text.find("\n", len(self.text) - self.suffix)
        end = len(self.text) if end < 0 else end
        return start, self.text[start:end]

    def check_printable(self) -> None:
        """documents.check_printable on the edited lines, with line and column in the file."""
        if self.none:
            return
        start, region = self.region()
        try:
            documents.check_printable(region)
        except YAMLProblem as e:
            raise YAMLProblem(e.args[0], e.line + self.text.count("\n", 0, start), e.column) from None

    def whole_file(self) -> bool:
        """Whether the edit made the file one to read whole (a directive or `...` line)."""
        return not self.none and documents.whole_file(self.region()[1])


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix, by halving (slices compare at C speed)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, prefix: int) -> int:
    """The length of the longest common suffix that does not reach into the common prefix."""
    lo, hi = 0, min(len(a), len(b)) - prefix
    la, lb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid:la - lo] == b[lb - mid:lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


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
    read.diagnostics = tuple(Diagnostic(d.severity, d.path, d.line + delta if d.line else 0, d.message, d.field,
                                        d.kind, d.namespace, d.name, d.column, d.reason) for d in read.diagnostics)
    read.made_at = read.document.line
    return read.diagnostics


# --- one document's objects ---------------------------------------------------------

def _read_document(document: Document, keep_manifests: bool = True) -> _Read:
    read = _Read(document, keep_manifests)
    try:
        parsed = documents.compose(document.text)
    except YAMLProblem as e:
        read.diagnostics += (_error(document.path, document.line + e.line - 1 if e.line else 0, str(e),
                                       e.column),)
        return read
    _objects_of(read, parsed)
    return read


def _read_stream(file: File, text: str, keep_manifests: bool = True) -> list[_Read]:
    """A file that documents.split() could not cut: its documents one by one, lines relative
    to the file; those before a YAML error still count."""
    reads: list[_Read] = []
    index = 0
    try:
        for parsed in documents.compose_stream(text):
            read = _Read(Document(file, index, 1, lines=(parsed.lines if parsed else None) or {}), keep_manifests)
            _objects_of(read, parsed)
            reads.append(read)
            index += 1
    except YAMLProblem as e:
        read = _Read(Document(file, index, 1, lines={}))
        read.diagnostics += (_error(file.path, e.line, str(e), e.column),)
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
        read.diagnostics += (_error(doc.path, line, f"document {doc.index + 1} is {what}, not a Kubernetes "
                                       "object (a mapping with apiVersion and kind)"),)
        read.numbered = True
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
            read.diagnostics += (_error(doc.path, line, f"items of a {kind} must be Kubernetes objects (mappings)"),)
        elif depth + 1 >= MAX_LIST_DEPTH and str(item.get("kind", "")).endswith("List"):
            read.diagnostics += (_error(doc.path, line, f"Lists nested more than {MAX_LIST_DEPTH} deep"),)
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
        read.diagnostics += (_error(doc.path, source.line, f"error validating data: {text}"),)
        return
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
    if kind not in KINDS:
        shown = f"{namespace}/{name}" if namespace else name
        read.skipped += ((offset, f'skipped {api_version} {kind} "{shown}"'),)
    elif api_version not in KINDS[kind]:
        read.diagnostics += (_error(doc.path, source.line,
                                       f'no matches for kind "{kind}" in version "{api_version}"'),)
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
        result = build_objects(kind, obj, source, owned=True, keep_manifest=read.keep_manifests)
        diagnostics += [naming.diag(source, WARNING, f, m) for f, m in result.warnings]
        diagnostics += [naming.diag(source, ERROR, f, m) for f, m in result.errors]
        read.objects += tuple(result.objects)
    if diagnostics:
        read.diagnostics += tuple(diagnostics)


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
