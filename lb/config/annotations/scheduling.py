"""How a Service's connections are spread: the scheduler that overrides --ipvs-scheduler."""
from __future__ import annotations

from lb.config.annotations.parsers import one_of
from lb.config.annotations.registry import register

# the core's registered schedulers (ext/sched_*.pyx), by name; tests/test_annotations.py checks
# this against lb._core and the twins (lb.schedulers), so reading manifests imports neither
SCHEDULERS = ("lc", "mh", "rr", "sh", "wlc", "wrr")

SCHEDULER = register(
    "scheduler", one_of(*SCHEDULERS),
    "the scheduler for this Service's ports (ipvsadm's names: " + ", ".join(SCHEDULERS)
    + "); default --ipvs-scheduler")
