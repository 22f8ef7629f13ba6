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

from lb.config.loader import STDIN_NAME, FileResult, load_paths
from lb.diagnostics import errors_of
from lb.settings import ManifestSettings
from lb.snapshot import Snapshot
from lb.snapshot.build import build_snapshot


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
    """Loads the files named by settings.files into Snapshots, keeping last good content."""

    def __init__(self, settings: ManifestSettings):
        self.settings = settings
        self.book = FileBook()
        self.snapshot: Snapshot | None = None
        self.stdin: FileResult | None = None     # `-f -`: read at the first load, kept for every reload

    def load(self, generation: int) -> tuple[Snapshot, list[FileResult]]:
        """Read every file, build a Snapshot. Returns (snapshot, FileResults not applied).
        Raises ValueError only for a bad range in the settings."""
        previous = dict(self.book.in_force)
        results = load_paths(self.settings.files, stdin=self.stdin)
        self.stdin = next((r for r in results if r.path == STDIN_NAME), None)
        in_force, rejected = self.book.update(results)
        snap = build_snapshot(in_force, self.settings, generation)
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
            snap = build_snapshot(self.book.in_force.values(), self.settings, generation)
        self.snapshot = snap
        return snap, rejected
