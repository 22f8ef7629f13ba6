# Slow start, for every scheduler (the row option slow_start, seconds; nginx's slow_start,
# HAProxy's slowstart): an endpoint that became eligible in a service port that was already
# serving (added to its row, or its weight raised from 0: lb_epstate.since) gets a share of
# new connections that ramps up linearly from 0 to its full share over the slow start.
#
# nginx and HAProxy scale the endpoint's weight, which only weighted algorithms read (nginx
# refuses slow_start with hash, HAProxy ignores it for static algorithms). Here the dispatcher
# (_sched_pick) admits the scheduler's answer with probability elapsed / slow_start and
# otherwise asks the scheduler again with that endpoint in ctx.avoid, so rr, lc, the hashes
# and affinity's misses all ramp the same way and no algorithm re-implements it. An endpoint
# that the scheduler would pick with probability p is taken with p x elapsed / slow_start:
# linear. What it turns away goes where the scheduler sends it next (rr: the next endpoint,
# lc: the next least loaded, sh/mh: the client's rehash).
#
# The draw: for sh and mh (LB_SCHED_F_CLIENT_HASH) a hash of the client and the endpoint, so
# a client is admitted from a fixed point of the ramp on: admitted clients only grow, each
# client moves at most once. For the others a hash of the pick's time, client port and the
# endpoint. At most LB_SLOW_START_TRIES candidates are considered, the last one taken whatever
# its ramp: slow start never leaves a client without an endpoint.
#
# Where a turned-away client goes matters for sh and mh: a rehash would move it twice (away,
# then to the new endpoint once admitted). So sh and mh, when built while endpoints ramp,
# record per slot where its clients went before (lb_slots.settled: sh the slot's previous
# owner, mh the Maglev table without the ramping endpoints), and _hash_pick tries that first:
# a client stays where it was until it is admitted, and then moves once.


cdef bint _ep_ramping(const lb_sp *sp, int j) noexcept nogil:
    """Whether sp.eps[j] was eligible and in the row's slow start when the row was built."""
    cdef uint64_t since
    if sp.opts.slow_start_ns == 0 or sp.eps[j].sched_weight <= 0:
        return False
    since = lb_load_u64(&sp.eps[j].state.since)
    return since != 0 and sp.built_ns >= since and sp.built_ns - since < sp.opts.slow_start_ns


cdef inline uint64_t _ramp(const lb_sp *sp, const lb_endpoint *ep, uint64_t now) noexcept nogil:
    """ep's progress through the row's slow start at now, in 1/LB_RAMP_ONE: LB_RAMP_ONE when
    it is past it or never started one."""
    cdef uint64_t since = lb_load_u64(&ep.state.since)
    if since == 0 or (now > since and now - since >= sp.opts.slow_start_ns):
        return LB_RAMP_ONE
    if now <= since:
        return 0
    return ((now - since) << 16) // sp.opts.slow_start_ns


cdef inline uint64_t _slow_start_draw(const lb_sp *sp, const lb_pick_ctx *ctx, int64_t ep_id) noexcept nogil:
    """A number in 0..LB_RAMP_ONE - 1; ep_id is admitted when it is below its ramp."""
    cdef uint64_t seed = LB_SEED_SLOW_START ^ (<uint64_t>ep_id * LB_HASH_MUL)
    if sp.ops.flags & LB_SCHED_F_CLIENT_HASH:
        return _client_hash(ctx, sp.opts.hash_port, seed) & (LB_RAMP_ONE - 1)
    return _fmix64(seed ^ ctx.now ^ (<uint64_t>ctx.client_port << 48)) & (LB_RAMP_ONE - 1)


cdef int _slow_start_pick(lb_sp *sp, const lb_pick_ctx *ctx, int i) noexcept nogil:
    """i (the scheduler's answer for ctx) or what the scheduler answers instead once slow start
    turned i away; never -1."""
    cdef lb_pick_ctx again
    cdef uint64_t ramp
    cdef int t, j
    for t in range(LB_SLOW_START_TRIES - 1):
        ramp = _ramp(sp, &sp.eps[i], ctx.now)
        if ramp == LB_RAMP_ONE or _slow_start_draw(sp, ctx, sp.eps[i].ep_id) < ramp:
            return i
        if t == 0:
            again = ctx[0]
        if again.n_avoid == LB_PICK_AVOID:
            return i
        again.avoid[again.n_avoid] = sp.eps[i].ep_id
        again.n_avoid += 1
        j = sp.ops.pick(sp, &again)
        if j < 0 or _avoided(&again, sp.eps[j].ep_id):
            return i            # every other eligible endpoint is avoided too
        i = j
    return i
