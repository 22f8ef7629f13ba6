"""Twin of ext/sched_wrr.pyx: nginx's smooth weighted round robin, its whole period computed
at build (at most WRR_MAX_SEQ turns, larger weight sums scaled down), picked by the cursor."""
from .row import Slots, after_failed, eligible_weights, pickable, scan

NAME = "wrr"
WEIGHTS = SLOTS = True
CLIENT_HASH = False
WRR_MAX_SEQ = 16384


def sequence(weights):
    """nginx's smooth order of indices into weights over one period (the sum of weights)."""
    total = sum(weights)
    cur = [0] * len(weights)
    out = []
    for _ in range(total):
        best = -1
        for e, w in enumerate(weights):
            cur[e] += w
            if best < 0 or cur[e] > cur[best]:
                best = e
        cur[best] -= total
        out.append(best)
    return out


def build(row, old):
    idx, w = eligible_weights(row)
    total = sum(w)
    if total > WRR_MAX_SEQ:
        w = [max(1, x * WRR_MAX_SEQ // total) for x in w]
    return Slots([idx[e] for e in sequence(w)])


def pick(row, ctx):
    seq = row.data.slot
    if not seq:
        return scan(row, ctx, 0)[0]
    failed = after_failed(row, ctx)
    if failed is not None:
        return failed
    i = seq[row.state.cursor % len(seq)]
    row.state.cursor += 1
    if pickable(row, ctx, i):
        return i
    return scan(row, ctx, i)[0]
