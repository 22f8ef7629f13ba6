"""The lb._core boundary: the one place the control plane talks to the Cython core.

Plans go in as the core's plain-data table (docs/internals.md); counters come out
as copies. The core's stop() blocks until the drain ends, so it runs in an executor
and the event loop keeps answering /healthz meanwhile.
"""
from __future__ import annotations

import asyncio
import os

from lb.plan import Plan
from lb.settings import RunSettings


class Core:
    """One lb._core.Core sized by the settings (workers, idle timeout)."""

    def __init__(self, settings: RunSettings, core=None):
        import lb._core

        self.workers = settings.workers or os.cpu_count() or 1
        self.raw = core if core is not None else lb._core.Core(workers=self.workers,
                                                                idle_timeout=settings.tcp_idle_timeout)
        self.generation = 0
        self.stopped = False

    def apply(self, plan: Plan) -> int:
        """Publishes plan's table; returns its generation. ValueError/TypeError: nothing published."""
        self.generation = self.raw.apply(plan.table())
        return self.generation

    def start(self) -> None:
        self.raw.start()

    async def stop(self, drain_timeout: float) -> None:
        if self.stopped:
            return
        self.stopped = True
        await asyncio.get_running_loop().run_in_executor(None, self.raw.stop, drain_timeout)

    def stats(self) -> dict:
        """Copies of the counters; {} once the core is gone (a view answers nothing, not a 500)."""
        try:
            return self.raw.stats()
        except Exception:
            return {}

    def connections(self) -> list[tuple]:
        try:
            return self.raw.connections()
        except Exception:
            return []
