"""Every mode and workload by name: adding one is one class or value and one entry here."""
from __future__ import annotations

from lb.bench.modes import MODES
from lb.bench.scale import SCALE
from lb.bench.workloads import LOAD_WORKLOADS

WORKLOADS = {**LOAD_WORKLOADS, SCALE.name: SCALE}

__all__ = ["MODES", "WORKLOADS"]
