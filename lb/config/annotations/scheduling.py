"""How a Service's connections are spread: the scheduler that overrides --ipvs-scheduler."""
from __future__ import annotations

from lb.config.annotations.parsers import one_of
from lb.config.annotations.registry import register
from lb.schedulers import ALGORITHMS

SCHEDULERS = tuple(sorted(ALGORITHMS))

SCHEDULER = register(
    "scheduler", one_of(*SCHEDULERS),
    "the scheduler for this Service's ports (ipvsadm's names: " + ", ".join(SCHEDULERS)
    + "); default --ipvs-scheduler")
