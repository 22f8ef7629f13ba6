"""Twin of ext/sched_mh.pyx: Maglev's lookup table (NSDI'16 section 3.4) over the eligible
endpoints, named and ordered by their "ip:port" text, weights as repeated turns; while some
ramp (slow start), the table without them as the settled one."""
from .hashing import SEED_MH_OFFSET, SEED_MH_SKIP, endpoint_name, hash64
from .row import Slots, eligible_weights, ramping
from .slots import hash_pick

NAME = "mh"
WEIGHTS = SLOTS = CLIENT_HASH = True
MH_DEFAULT_SIZE = 65537
MH_TURN_BITS = 8


def permutation_start(name, size):
    """(offset, skip) of an endpoint named name in a table of size slots."""
    b = name.encode()
    return hash64(b, SEED_MH_OFFSET) % size, hash64(b, SEED_MH_SKIP) % (size - 1) + 1


def populate(size, backends):
    """The paper's Populate over backends [(index, offset, skip, turns)] in turn order."""
    table = [None] * size
    nxt = [b[1] for b in backends]
    filled = 0
    while True:
        for e, (i, _, skip, turns) in enumerate(backends):
            for _ in range(turns):
                c = nxt[e]
                while table[c] is not None:
                    c = (c + skip) % size
                table[c] = i
                nxt[e] = (c + skip) % size
                filled += 1
                if filled == size:
                    return table


def build(row, old):
    idx, w = eligible_weights(row)
    if not idx:
        return Slots([])
    size = row.opts.table_size or MH_DEFAULT_SIZE
    shift = max(0, max(w).bit_length() - MH_TURN_BITS)
    backends = []
    for e, j in enumerate(idx):
        ep = row.eps[j]
        name = endpoint_name(ep.ip, ep.port)
        backends.append((name.encode(), ep.ep_id, j, *permutation_start(name, size),
                         max(1, w[e] >> shift)))
    backends.sort(key=lambda b: (b[0], b[1]))
    slots = Slots(populate(size, [b[2:] for b in backends]))
    settled = [b[2:] for b in backends if not ramping(row, b[2])]
    if 0 < len(settled) < len(backends):
        slots.settled = populate(size, settled)
    return slots


pick = hash_pick
