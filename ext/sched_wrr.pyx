# Weighted round robin, the smooth kind nginx uses (ngx_http_upstream_round_robin.c,
# ngx_http_upstream_get_peer): at each turn every eligible endpoint's current weight grows by
# its weight, the largest current weight wins (the first in row order on a tie) and loses the
# sum of the weights. Weights 5, 1, 1 give a a b a c a a: the heavy endpoint's turns are spread
# out, where IPVS wrr (ip_vs_wrr.c, stepping a current weight down by the gcd) sends a burst of
# five first. As IPVS does, the weights are divided by their greatest common divisor.
#
# nginx runs the turn on every pick, under a lock, in O(n). Here the whole period (L turns,
# the sum of the reduced weights) is computed when the row is built, as a slot sequence, and a
# pick takes the next slot by the service port's atomic cursor (shared with rr, carried over
# applies): O(1). The build is O(L x n); L is at most LB_WRR_MAX_SEQ, larger weight sums are
# scaled down to it (every eligible endpoint keeping at least one turn). The sequence holds
# the endpoints that were eligible at build; set_endpoint_state rebuilds it when a weight
# changes (LB_SCHED_F_WEIGHTS), and until then a slot whose endpoint is no longer pickable
# hands over to the next pickable endpoint in row order. A retry takes the pickable endpoint
# after the one that failed, in row order, and leaves the cursor alone (as rr: the retry is
# not a new turn).


cdef int _wrr_init(lb_sp *sp) noexcept nogil:
    cdef lb_eligible el
    cdef int64_t *cur               # nginx's current weights
    cdef uint64_t total = 0, scaled = 0, k
    cdef lb_slots *s = NULL
    cdef int e, best
    sp.sched_data = NULL
    if _eligible_new(sp, sizeof(int64_t), &el) < 0:
        return -ENOMEM
    cur = <int64_t *>el.extra
    for e in range(el.m):
        total += el.w[e]
    if total > LB_WRR_MAX_SEQ:
        for e in range(el.m):
            el.w[e] = el.w[e] * LB_WRR_MAX_SEQ // total
            if el.w[e] == 0:
                el.w[e] = 1
            scaled += el.w[e]
        total = scaled
    s = _slots_new(<uint32_t>total, False)
    if s != NULL:
        for k in range(total):
            best = -1
            for e in range(el.m):
                cur[e] += <int64_t>el.w[e]
                if best < 0 or cur[e] > cur[best]:
                    best = e
            cur[best] -= <int64_t>total
            s.slot[k] = <uint16_t>el.idx[best]
    free(el.w)
    return _slots_set(sp, s)


cdef int _wrr_update(lb_sp *sp, lb_sp *old) noexcept nogil:
    return _wrr_init(sp)        # the position lives in the cursor (sp.state)


cdef int _wrr_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    cdef const lb_slots *s = <const lb_slots *>sp.sched_data
    cdef int i
    if s == NULL or s.n == 0:
        return _sched_scan(sp, ctx, 0, NULL)
    if ctx.failed:
        i = _ep_index(sp, ctx.failed_ep_id)
        if i >= 0:
            return _sched_scan(sp, ctx, i + 1, NULL)
    i = s.slot[lb_fetch_add_u64(&sp.state.cursor, 1) % s.n]
    if _ep_pickable(sp, ctx, i):
        return i
    return _sched_scan(sp, ctx, i, NULL)


cdef lb_sched_ops SCHED_WRR = lb_sched_ops(
    name="wrr", flags=LB_SCHED_F_WEIGHTS | LB_SCHED_F_SLOTS, options=0,
    init=_wrr_init, update=_wrr_update, pick=_wrr_pick, done=_slots_done)
_sched_register(&SCHED_WRR)
