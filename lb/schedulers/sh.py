"""Twin of ext/sched_sh.pyx: source hashing into SH_BUCKETS buckets shared by the eligible
endpoints in proportion to their weights (largest remainder); a rebuild keeps every bucket
whose endpoint stays, up to its new share, and deals out only the rest; buckets of endpoints
in slow start remember their previous owner (settled)."""
from .row import Slots, eligible_weights, ramping
from .slots import hash_pick

NAME = "sh"
WEIGHTS = SLOTS = CLIENT_HASH = True
SH_BUCKETS = 4096


def quotas(n, idx, w):
    """Row index -> buckets: floor(S x w / W) each, the rest to the largest remainders."""
    total = sum(w)
    quota = [0] * n
    for e, j in enumerate(idx):
        quota[j] = SH_BUCKETS * w[e] // total
    rank = sorted(range(len(idx)), key=lambda e: (-(SH_BUCKETS * w[e] % total), e))
    for e in rank[:SH_BUCKETS - sum(quota)]:
        quota[idx[e]] += 1
    return quota


def build(row, old):
    idx, w = eligible_weights(row)
    if not idx:
        return Slots([])
    quota = quotas(len(row.eps), idx, w)
    count = [0] * len(row.eps)
    slots = [None] * SH_BUCKETS
    index = None            # old row index -> new row index (or None)
    if old is not None and old.data and len(old.data.slot) == SH_BUCKETS:
        first = {}
        for j, ep in enumerate(row.eps):
            first.setdefault(ep.ep_id, j)
        index = [first.get(ep.ep_id) for ep in old.eps]
        for b, oj in enumerate(old.data.slot):
            j = index[oj]
            if j is not None and count[j] < quota[j]:
                slots[b] = j
                count[j] += 1
    p = 0
    for b in range(SH_BUCKETS):
        if slots[b] is not None:
            continue
        while count[idx[p]] >= quota[idx[p]]:
            p = (p + 1) % len(idx)
        slots[b] = idx[p]
        count[idx[p]] += 1
        p = (p + 1) % len(idx)
    out = Slots(slots)
    if index is not None and any(ramping(row, j) for j in idx):
        before = old.data.settled or old.data.slot
        out.settled = list(slots)
        for b, j in enumerate(slots):
            prev = index[before[b]] if ramping(row, j) else None
            if prev is not None and row.eps[prev].sched_weight > 0 and not ramping(row, prev):
                out.settled[b] = prev
    return out


pick = hash_pick
