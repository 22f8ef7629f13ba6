"""Pure-Python reference twins of the core's schedulers (ext/sched_*.pyx).

Tests drive these and the C hooks (lb._core.RoundRobinCursor, lb._core.AffinityTable,
lb._core.Scheduler) with the same inputs and expect the same answers: tests/test_schedulers.py
(rr cursor, affinity) and tests/test_sched_<name>.py. Times are integer nanoseconds, as in the
core. An endpoint with weight <= 0 is not eligible for new connections (draining, or taken out
by health checks); weights=None means all are.

One module per algorithm (rr, wrr, lc, wlc, sh, mh), each with build(row, old) -> its data and
pick(row, ctx) -> index; row.py holds what they share, slowstart.py the dispatcher,
scheduler.py the whole service port (Scheduler, the twin of lb._core.Scheduler).
"""
from .affinity import AffinityTable
from .rr import RoundRobin
from .scheduler import ALGORITHMS, Scheduler

__all__ = ["ALGORITHMS", "AffinityTable", "RoundRobin", "Scheduler"]
