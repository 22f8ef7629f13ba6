"""The event log: one line per event, key=value, on stderr.

    ts=2026-12-07T10:00:00.123Z level=info event=listen frontend=10.97.97.97:80/TCP service=study/web
"""
from __future__ import annotations

import sys
import time


class EventLog:
    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr

    def __call__(self, event: str, level: str = "info", **fields) -> None:
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        parts = [f"ts={ts}", f"level={level}", f"event={event}"]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items() if v is not None]
        try:
            self.stream.write(" ".join(parts) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _quote(v) -> str:
    s = str(v)
    if s == "" or any(c in s for c in ' "=\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s
