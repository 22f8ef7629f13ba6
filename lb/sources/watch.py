"""When to reload: a manifest file changed (watchfiles, inotify) or SIGHUP arrived.

Folders are watched recursively; a file named on the command line is watched through its
folder (editors replace files by rename), not recursively, so `-f /etc/x.yaml` doesn't
watch all of /etc's subtree.

A file that appears whole (written elsewhere and renamed into place, as editors, kubectl
and config management do, or deleted) is applied at once. A file written in place is
applied only once it has been quiet for STABLE_MS: a writer caught between two documents
leaves valid YAML that is only half the file. Until then its last content stays in force
(the reload holds it). A watcher is armed some time after lb read the files at start,
and nothing says when: its first tick (an empty batch once it runs) triggers a reload, so a
change made while lb was starting is never lost.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Awaitable, Callable

from lb.config.loader import MANIFEST_SUFFIXES, STDIN

STEP_MS = 10            # a batch of events ends after this much quiet
STABLE_MS = 300         # an in-place write applies after this much quiet
TICK_MS = 100           # the watcher wakes this often while a write is pending

Reload = Callable[..., Awaitable[None]]     # reload(trigger, hold=frozenset())


def manifest_files_changed(changes, roots: list[str]) -> set[tuple[int, str]]:
    """The (change, path) pairs of a watchfiles change set that touch a manifest: a file
    named on the command line, or a *.yaml/*.yml/*.json under a folder named there."""
    files = {os.path.abspath(r) for r in roots if not os.path.isdir(r)}
    dirs = [os.path.abspath(r) + os.sep for r in roots if os.path.isdir(r)]
    out = set()
    for change, path in changes:
        p = os.path.abspath(path)
        if p in files or (p.endswith(MANIFEST_SUFFIXES) and any(p.startswith(d) for d in dirs)):
            out.add((change, p))
    return out


def reload_on_sighup(reload: Reload) -> None:
    """SIGHUP reloads, as for kube-proxy's config and every Unix daemon."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload("sighup")))


class _Writes:
    """Files written in place, each applied once quiet for STABLE_MS."""

    def __init__(self):
        self.pending: dict[str, float] = {}     # path -> when it may be read

    def note(self, path: str) -> None:
        self.pending[path] = time.monotonic() + STABLE_MS / 1000

    def ready(self) -> list[str]:
        now = time.monotonic()
        done = [p for p, t in self.pending.items() if t <= now]
        for p in done:
            del self.pending[p]
        return done


async def watch_manifests(paths: tuple[str, ...], reload: Reload, stop: asyncio.Event, log) -> None:
    """Calls reload("watch", hold=...) after each change to a manifest under paths, until stop
    is set; hold names the files written in place that are not quiet yet."""
    try:
        from watchfiles import Change, awatch
    except ImportError:
        log("watch_unavailable", level="warning", hint="install watchfiles; SIGHUP still reloads")
        return
    paths = tuple(p for p in paths if p != STDIN)       # read once at start: nothing to watch
    folders = sorted({os.path.abspath(p) for p in paths if os.path.isdir(p)})
    parents = sorted({os.path.dirname(os.path.abspath(p)) for p in paths if not os.path.isdir(p)
                      and os.path.isdir(os.path.dirname(os.path.abspath(p)))} - set(folders))
    writes = _Writes()

    async def watch(roots: list[str], recursive: bool) -> None:
        armed = False
        try:
            async for changes in awatch(*roots, stop_event=stop, debounce=STABLE_MS, step=STEP_MS,
                                        rust_timeout=TICK_MS, yield_on_timeout=True, recursive=recursive):
                first, armed = not armed, True
                if first and not changes:
                    await reload("watch_armed")          # what changed while the watcher was starting
                    continue
                mine = manifest_files_changed(changes, list(paths))
                whole = first or any(change != Change.modified for change, _path in mine)
                for change, path in mine:
                    if change == Change.modified:
                        writes.note(path)
                ready = writes.ready()
                if whole or ready:
                    await reload("watch", hold=frozenset(writes.pending))
        except Exception as e:   # e.g. the inotify watch limit
            log("watch_failed", level="error", error=repr(e), hint="SIGHUP still reloads")

    await asyncio.gather(*(watch(roots, rec) for roots, rec in ((folders, True), (parents, False)) if roots))
