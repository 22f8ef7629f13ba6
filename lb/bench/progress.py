"""The progress line: current mode, workload and repeat, with an ETA.

The bar counts estimated seconds (lb.bench.runner.estimate), so its rate converges on
how much faster or slower than the estimates this machine goes and the ETA follows.
On a terminal it is a rich progress bar on stderr; otherwise (CI, a pipe) one plain line
per step with the ETA computed the same way.
"""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total = 0.0
        self.done = 0.0
        self.t0 = time.monotonic()
        self._rich = None
        self._task = None

    def start(self, total: float) -> None:
        self.total, self.done, self.t0 = max(total, 1.0), 0.0, time.monotonic()
        if not self.enabled or not self.stream.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import (BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
        except ImportError:
            return
        self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                  TextColumn("ETA"), TimeRemainingColumn(), console=Console(file=self.stream),
                                  transient=True)
        self._rich.start()
        self._task = self._rich.add_task("starting", total=self.total)

    def eta(self) -> float:
        """Seconds left: the remaining estimate scaled by how this run compares with it."""
        elapsed = time.monotonic() - self.t0
        pace = elapsed / self.done if self.done > 0 else 1.0
        return (self.total - self.done) * pace

    def describe(self, mode: str, workload: str, repeat: int, repeats: int) -> None:
        text = f"mode={mode} workload={workload} repeat={repeat + 1}/{repeats}"
        if self._rich is not None:
            self._rich.update(self._task, description=text)
        elif self.enabled:
            pct = 100.0 * self.done / self.total if self.total else 0.0
            print(f"{time.strftime('%H:%M:%S')} progress {pct:3.0f}% {text} eta={_clock(self.eta())}",
                  file=self.stream, flush=True)

    def advance(self, seconds: float) -> None:
        self.done = min(self.done + seconds, self.total)
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)

    def log(self, message: str) -> None:
        """A log line that does not tear the bar."""
        line = f"{time.strftime('%H:%M:%S')} {message}"
        if self._rich is not None:
            self._rich.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def stop(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
