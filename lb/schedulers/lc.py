"""Twin of ext/sched_lc.pyx and ext/sched_wlc.pyx: IPVS least connections, overhead = active x
256 + inactive, divided by the effective weight for wlc; the first in row order on a tie."""
from .row import eligible

NAME = "lc"
WEIGHTS = SLOTS = CLIENT_HASH = False


def overhead(state):
    active = max(state.active, 0)
    live = max(state.live, active)
    return (active << 8) + live - active


def least(row, ctx, weighted):
    best = {False: None, True: None}       # avoided? -> (index, overhead, weight)
    for j, ep in enumerate(row.eps):
        if not eligible(ep):
            continue
        dw = ep.state.weight if weighted else 1
        doh = overhead(ep.state)
        av = ep.ep_id in ctx.avoid
        b = best[av]
        if b is None or b[1] * dw > doh * b[2]:
            best[av] = (j, doh, dw)
    b = best[False] or best[True]
    return -1 if b is None else b[0]


def build(row, old):
    return None


def pick(row, ctx):
    return least(row, ctx, False)
