"""Where an object was read: its file, its YAML document, the line of any of its fields.

A Document is one YAML document of a manifest file as last read. The objects read from it
share it, so when a re-read finds the same text at another place in the file (an earlier
document grew) the loader moves the Document and every object reports its new lines without
being rebuilt. Field lines are worked out only when a message needs one: the fast load path
keeps no line marks, so the first line_of() of a document composes its text again with marks.
"""
from __future__ import annotations

import re


class File:
    """A manifest file as last read: shared by its Documents, so a re-read updates it once."""
    __slots__ = ("path", "mtime")

    def __init__(self, path: str, mtime: float = 0.0):
        self.path = path
        self.mtime = mtime        # the file's modification time when it was read


class Document:
    __slots__ = ("file", "index", "line", "text", "_lines")

    def __init__(self, file: File, index: int, line: int, text: str = "", lines: dict[str, int] | None = None):
        self.file = file
        self.index = index        # its place among the file's documents, from 0
        self.line = line          # 1-based line of the document's first line in the file
        self.text = text          # the document's own text, for field lines on demand
        self._lines = lines       # field path -> line relative to `line`, 0-based; None: not yet

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def mtime(self) -> float:
        return self.file.mtime

    def field_line(self, path: str) -> int | None:
        """0-based line of a field path ("items[2].spec.ports[0].port") inside the document."""
        if self._lines is None:
            from lb.config.documents import field_lines_of
            self._lines = field_lines_of(self.text) if self.text else {}
        return self._lines.get(path)


_KEY_IN_BRACKETS = re.compile(r"\[([^\]]*[^\]0-9][^\]]*)\]")


class Source:
    """The document an object came from, and where in it: `prefix` is the object's own path
    in the document ("" for the whole document, "items[2]" in a List), `offset` the 0-based
    line of its first field."""
    __slots__ = ("document", "prefix", "offset")

    def __init__(self, document: Document, prefix: str = "", offset: int = 0):
        self.document = document
        self.prefix = prefix
        self.offset = offset

    @classmethod
    def at(cls, path: str, line: int, index: int = 0, mtime: float = 0.0) -> "Source":
        """A source with no text behind it (objects made in code, tests): every field is at line."""
        return cls(Document(File(path, mtime), index, line, lines={}))

    @property
    def path(self) -> str:
        return self.document.path

    @property
    def line(self) -> int:
        return self.document.line + self.offset

    @property
    def index(self) -> int:
        return self.document.index

    @property
    def mtime(self) -> float:
        return self.document.mtime

    def order(self) -> tuple[str, int, int]:
        """File order: path, document, line (first definition wins)."""
        return (self.document.path, self.document.index, self.line)

    def _full(self, path: str) -> str:
        if not self.prefix:
            return path
        return self.prefix + path if path.startswith("[") else f"{self.prefix}.{path}"

    def has_line(self, field_path: str) -> bool:
        """Whether field_path itself was written (not only an ancestor)."""
        return self.document.field_line(self._full(field_path)) is not None

    def line_of(self, field_path: str) -> int:
        """The line of field_path, or of its nearest ancestor that has one. A map key in
        brackets (metadata.annotations[lb.io/scheduler]) is found as the field it names."""
        path = _KEY_IN_BRACKETS.sub(r".\1", field_path)
        while path:
            found = self.document.field_line(self._full(path))
            if found is not None:
                return self.document.line + found
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.line

    def __repr__(self) -> str:
        return f"Source({self.path}:{self.line})"
