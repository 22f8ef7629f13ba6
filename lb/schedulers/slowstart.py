"""Twin of ext/sched_slowstart.pyx and the dispatcher (ext/sched.pyx _sched_pick): a ramping
endpoint's pick is admitted with probability elapsed / slow_start, else the scheduler is asked
again with it avoided; at most SLOW_START_TRIES candidates, the last taken."""
from .hashing import HASH_MUL, MASK, SEED_SLOW_START, client_hash, fmix64

PICK_AVOID = 4
SLOW_START_TRIES = 4
RAMP_ONE = 1 << 16


def ramp(row, ep, now):
    since = ep.state.since
    if since == 0 or (now > since and now - since >= row.opts.slow_start_ns):
        return RAMP_ONE
    if now <= since:
        return 0
    return ((now - since) << 16) // row.opts.slow_start_ns


def draw(row, ctx, ep_id):
    seed = SEED_SLOW_START ^ ((ep_id * HASH_MUL) & MASK)
    if row.algorithm.CLIENT_HASH:
        return client_hash(ctx.client, ctx.port, row.opts.hash_port, seed) & (RAMP_ONE - 1)
    return fmix64(seed ^ ctx.now ^ (ctx.port << 48)) & (RAMP_ONE - 1)


def sched_pick(row, ctx):
    """The dispatcher: the algorithm's pick, through slow start when the row has it."""
    i = row.algorithm.pick(row, ctx)
    if row.opts.slow_start_ns == 0 or i < 0:
        return i
    again = None
    for _ in range(SLOW_START_TRIES - 1):
        r = ramp(row, row.eps[i], ctx.now)
        if r == RAMP_ONE or draw(row, ctx, row.eps[i].ep_id) < r:
            return i
        if again is None:
            again = type(ctx)(ctx.client, ctx.port, ctx.now, list(ctx.avoid), ctx.failed_ep_id)
        if len(again.avoid) == PICK_AVOID:
            return i
        again.avoid.append(row.eps[i].ep_id)
        j = row.algorithm.pick(row, again)
        if j < 0 or row.eps[j].ep_id in again.avoid:
            return i
        i = j
    return i
