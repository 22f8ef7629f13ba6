"""Twin of ext/sched_slots.pyx's pick through a client's hash (sh, mh): the client's slot, its
settled endpoint, then up to HASH_TRIES - 1 rehashes while the endpoint found is not pickable,
then a scan of the row."""
from .hashing import SEED_LOOKUP, client_hash
from .row import pickable, scan

HASH_TRIES = 8


def hash_pick(row, ctx):
    slots, settled = row.data.slot, row.data.settled
    if not slots:
        return scan(row, ctx, 0)[0]
    i = 0
    for k in range(HASH_TRIES):
        h = client_hash(ctx.client, ctx.port, row.opts.hash_port, SEED_LOOKUP + k) % len(slots)
        i = slots[h]
        if pickable(row, ctx, i):
            return i
        if k == 0 and settled is not None and pickable(row, ctx, settled[h]):
            return settled[h]
    return scan(row, ctx, i)[0]
