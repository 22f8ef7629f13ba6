# cython: language_level=3
"""lb._core: the data plane (workers, tables, conntrack, schedulers, splice forwarding).

The Python-visible surface is Core (docs/internals.md) plus the scheduler test hooks
RoundRobinCursor and AffinityTable; everything else is cdef and runs without the GIL.
"""
import os

# Types first (one .pxd per concept that has any), then code. Concepts made only of functions
# have just a .pyx: Cython does not accept forward declarations of cdef functions in a .pyx.
include "includes/system.pxd"
include "includes/consts.pxi"
include "sched_affinity.pxd"
include "table.pxd"
include "conntrack.pxd"
include "listener.pxd"
include "worker.pxd"

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
