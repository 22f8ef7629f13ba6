# Round robin, as kube-proxy's userspace proxier (k/k pkg/proxy/userspace/roundrobin.go) and
# IPVS rr (net/netfilter/ipvs/ip_vs_rr.c): each new connection takes the next endpoint of the
# row. The cursor is one 64-bit atomic counter per service port, kept in the service port's
# state: shared by all workers, so the order is global whichever worker accepted, and carried
# over applies. Unlike kube-proxy we neither shuffle nor reset on endpoint changes.
#
# Ineligible endpoints (weight 0: draining or unhealthy) are skipped, as IPVS rr skips
# weight-0 dests: the scan goes forward from the cursor, at most n steps, and the cursor then
# moves past the endpoint taken, so the one after a skipped endpoint does not get its turn
# too. Endpoints in the pick's avoid list (the one that just failed, those slow start turned
# away) are skipped the same way. Weights above 0 are otherwise ignored (wrr uses them).
# A retry (the connection's last connect failed) takes the endpoint after the one that failed
# and leaves the cursor alone: the retry is the same connection's turn, not a new one, so with
# [dead, live] a connection that starts on the dead one does not push the next connection
# onto it again (every connection would try the dead one first otherwise).
# pick: O(1) while the endpoint at the cursor is eligible, O(n) scan otherwise and on retries.


cdef int _rr_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    """ops.pick: index of the next pickable endpoint of sp by its service port's cursor, -1
    when none is eligible (n_eps may be 0). Any thread: one atomic add, and a second one only
    when endpoints were skipped."""
    cdef int n = sp.n_eps     # read once: the atomic add below would make the compiler reload it
    cdef int i
    if n <= 0:
        return -1
    if ctx.failed:
        i = _ep_index(sp, ctx.failed_ep_id)
        if i >= 0:
            return _sched_scan(sp, ctx, i + 1, NULL)
    i = <int>(lb_fetch_add_u64(&sp.state.cursor, 1) % <uint64_t>n)
    if ctx.n_avoid == 0 and _ep_eligible(&sp.eps[i]):
        return i
    return _sched_scan(sp, ctx, i, &sp.state.cursor)    # a tail call: the fast path saves no register


cdef int _rr_init(lb_sp *sp) noexcept nogil:
    sp.sched_data = NULL        # the cursor lives in sp.state, which outlives rows
    return 0


cdef int _rr_update(lb_sp *sp, lb_sp *old) noexcept nogil:
    return _rr_init(sp)


cdef void _rr_done(lb_sp *sp) noexcept nogil:
    pass


cdef class RoundRobinCursor:
    """Test hook: drives _rr_pick, the function the workers use."""
    cdef lb_spstate _state      # only its cursor is used
    cdef int _n

    def __init__(self, int n=0):
        self._state.cursor = 0
        self._n = n

    def next(self, n=None, weights=None):
        """Index of the next endpoint among n (or len(weights)); weights: one per endpoint,
        <= 0 not eligible, None all eligible. None when no endpoint is eligible."""
        cdef int k = len(weights) if weights is not None else (self._n if n is None else n)
        cdef lb_sp *row
        cdef lb_pick_ctx ctx
        cdef int i
        if k <= 0:
            raise ValueError("RoundRobinCursor.next: need at least one endpoint")
        memset(&ctx, 0, sizeof(ctx))
        row = _row_scratch(range(k), weights, &self._state)
        try:
            i = _rr_pick(row, &ctx)
        finally:
            free(row)
        return None if i < 0 else i


cdef lb_sched_ops SCHED_RR = lb_sched_ops(name="rr", flags=0, options=0, init=_rr_init,
                                          update=_rr_update, pick=_rr_pick, done=_rr_done)
_sched_register(&SCHED_RR)
