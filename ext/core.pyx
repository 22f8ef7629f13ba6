# cython: language_level=3
"""lb._core: the data plane (workers, tables, conntrack, schedulers, splice forwarding).

The Python-visible surface is Core (docs/internals.md) plus the scheduler test hooks
RoundRobinCursor and AffinityTable; everything else is cdef and runs without the GIL.
"""
import os

include "includes/system.pxd"
include "includes/consts.pxi"
include "sched_affinity.pxd"
include "table.pxd"
include "conntrack.pxd"
include "listener.pxd"
include "worker.pxd"
include "sched_rr.pxd"
include "timers.pxd"
include "pipes.pxd"
include "forward.pxd"
include "stats.pxd"
include "handle.pxd"

include "sched_rr.pyx"
include "sched_affinity.pyx"
include "table.pyx"
include "conntrack.pyx"
include "timers.pyx"
include "pipes.pyx"
include "listener.pyx"
include "forward.pyx"
include "worker.pyx"
include "stats.pyx"
include "handle.pyx"

CORE_VERSION = 1
