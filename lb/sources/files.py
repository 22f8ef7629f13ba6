"""The manifest files of a running instance, with each file's last good content.

A file whose new content has errors keeps its previous content in force (the
invariant "a bad reload changes nothing that serves"); a file seen for the first
time, or whose content in force already had errors, takes the new result, whose
valid objects serve (kube-proxy skips invalid objects). Errors that only show
across files (a clusterIP or nodePort taken twice) are found in the Snapshot: the
changed file that brought a new one goes back to its last good content too.
"""
from __future__ import annotations

from dataclasses import replace

from lb.config.loader import FileResult, ManifestReader, manifest_files, paused_gc
from lb.settings import ManifestSettings
from lb.snapshot import Snapshot
from lb.snapshot.build import SnapshotBuilder


class FileBook:
    """The FileResult in force for each manifest file."""

    def __init__(self):
        self.in_force: dict[str, FileResult] = {}

    def update(self, results: list[FileResult]) -> tuple[list[FileResult], list[FileResult]]:
        """results: FileResults of every file now present. Returns (in force, rejected)."""
        chosen, rejected = {}, []
        for r in results:
            old = self.in_force.get(r.path)
            if r.errors and old is not None and not old.errors and r != old:
                chosen[r.path] = old
                rejected.append(r)
            else:
                chosen[r.path] = r
        self.in_force = chosen
        return list(chosen.values()), rejected

    def revert(self, path: str, previous: FileResult) -> None:
        self.in_force[path] = previous


class ManifestFiles:
    """Loads the files named by settings.files into Snapshots, keeping last good content.
    Each load reads what changed on disk and builds from what changed (ManifestReader,
    SnapshotBuilder); raises ValueError at construction for a bad range in the settings."""

    def __init__(self, settings: ManifestSettings):
        self.settings = settings
        self.book = FileBook()
        self.reader = ManifestReader(keep_manifests=False)
        self.builder = SnapshotBuilder(settings)
        self.snapshot: Snapshot | None = None

    @property
    def stdin(self) -> FileResult | None:
        """What `-f -` gave at the first load (kept for every reload)."""
        return self.reader.stdin

    def load(self, generation: int, hold: frozenset[str] = frozenset()) -> tuple[Snapshot, list[FileResult]]:
        """Read every file, build a Snapshot. Returns (snapshot, FileResults not applied).
        hold: files not to read now (being written in place): their content in force stays."""
        with paused_gc():
            return self._load(generation, hold)

    def _load(self, generation: int, hold: frozenset[str]) -> tuple[Snapshot, list[FileResult]]:
        previous = dict(self.book.in_force)
        files = manifest_files(self.settings.files)
        self.reader.keep_only(files)
        results = [previous[path] if path in hold and path in previous else self.reader.read(path) for path in files]
        in_force, rejected = self.book.update(results)
        snap = self.builder.build(in_force, generation)
        old_errors = {str(d) for d in self.snapshot.errors} if self.snapshot else set()
        reverted = False
        for path in sorted({d.path for d in snap.errors if str(d) not in old_errors}):
            old, new = previous.get(path), self.book.in_force.get(path)
            if old is not None and new is not old and not old.errors:
                self.book.revert(path, old)
                new_errors = tuple(d for d in snap.errors if d.path == path)
                rejected.append(replace(new, diagnostics=tuple(new.diagnostics) + new_errors))
                reverted = True
        if reverted:
            snap = self.builder.build(self.book.in_force.values(), generation)
        self.snapshot = snap
        return snap, rejected
