"""Twin of ext/sched_wlc.pyx: lc's overhead divided by the effective weight (lc.least)."""
from .lc import build, least  # noqa: F401  (build: no scheduler data, as lc)

NAME = "wlc"
WEIGHTS = SLOTS = CLIENT_HASH = False


def pick(row, ctx):
    return least(row, ctx, True)
