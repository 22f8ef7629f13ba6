"""When to reload: a manifest file changed (watchfiles, inotify) or SIGHUP arrived.

Folders are watched recursively; a file named on the command line is watched
through its folder (editors replace files by rename), not recursively, so
`-f /etc/x.yaml` doesn't watch all of /etc's subtree.
"""
from __future__ import annotations

import asyncio
import os
import signal
from typing import Awaitable, Callable

from lb.config.loader import MANIFEST_SUFFIXES, STDIN

WATCH_DEBOUNCE_MS = 300

Reload = Callable[[str], Awaitable[None]]     # reload(trigger)


def manifest_files_changed(changes, roots: list[str]) -> bool:
    """Whether a watchfiles change set touches a manifest: a file named on the command
    line, or a *.yaml/*.yml/*.json under a folder named there."""
    files = {os.path.abspath(r) for r in roots if not os.path.isdir(r)}
    dirs = [os.path.abspath(r) + os.sep for r in roots if os.path.isdir(r)]
    for _change, path in changes:
        p = os.path.abspath(path)
        if p in files:
            return True
        if p.endswith(MANIFEST_SUFFIXES) and any(p.startswith(d) for d in dirs):
            return True
    return False


def reload_on_sighup(reload: Reload) -> None:
    """SIGHUP reloads, as for kube-proxy's config and every Unix daemon."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload("sighup")))


async def watch_manifests(paths: tuple[str, ...], reload: Reload, stop: asyncio.Event, log) -> None:
    """Calls reload("watch") after each change to a manifest under paths, until stop is set."""
    try:
        from watchfiles import awatch
    except ImportError:
        log("watch_unavailable", level="warning", hint="install watchfiles; SIGHUP still reloads")
        return
    paths = tuple(p for p in paths if p != STDIN)       # read once at start: nothing to watch
    folders = sorted({os.path.abspath(p) for p in paths if os.path.isdir(p)})
    parents = sorted({os.path.dirname(os.path.abspath(p)) for p in paths if not os.path.isdir(p)
                      and os.path.isdir(os.path.dirname(os.path.abspath(p)))} - set(folders))

    async def watch(roots: list[str], recursive: bool) -> None:
        try:
            async for changes in awatch(*roots, stop_event=stop, debounce=WATCH_DEBOUNCE_MS, step=50,
                                        recursive=recursive):
                if manifest_files_changed(changes, list(paths)):
                    await reload("watch")
        except Exception as e:   # e.g. the inotify watch limit
            log("watch_failed", level="error", error=repr(e), hint="SIGHUP still reloads")

    await asyncio.gather(*(watch(roots, rec) for roots, rec in ((folders, True), (parents, False)) if roots))
