# Least connections, as IPVS lc (net/netfilter/ipvs/ip_vs_lc.c): a new connection goes to the
# eligible endpoint with the least overhead, active x 256 + inactive (ip_vs_dest_conn_overhead:
# an established connection weighs far more than one connecting or closing), the first in row
# order on a tie. The counts are the core's own (lb_epstate counters, the ActiveConn/InActConn
# of stats()), summed over the workers' slots at each pick, so they include connections that
# other workers opened a moment ago. Weights above 0 are ignored (wlc divides by them).
#
# pick: O(n x workers) over the row's endpoints, as IPVS lc/wlc scan their dests; no
# scheduler data. Two workers picking at the same instant may both choose the same endpoint.


cdef inline uint64_t _ep_overhead(const lb_endpoint *ep) noexcept nogil:
    """IPVS's connection overhead of ep: active x 256 + inactive, over every worker's slot."""
    cdef lb_epstate *st = ep.state
    cdef int64_t live = 0, active = 0
    cdef int k
    for k in range(st.n_cnt):
        live += lb_load_i64(&st.cnt[k].live)
        active += lb_load_i64(&st.cnt[k].active)
    if active < 0:
        active = 0
    if live < active:
        live = active
    return (<uint64_t>active << 8) + <uint64_t>(live - active)


cdef int _least_pick(const lb_sp *sp, const lb_pick_ctx *ctx, bint weighted) noexcept nogil:
    """lc (weighted 0) and wlc (1): the pickable endpoint with the least overhead, or the least
    overhead / weight compared as IPVS does (loh x dw > doh x lw); when every eligible endpoint
    is avoided, the least of those."""
    cdef int best = -1, best_avoided = -1, j, b, weight
    cdef uint64_t oh[2]
    cdef uint64_t w[2]
    cdef uint64_t doh, dw
    cdef bint av
    for j in range(sp.n_eps):
        weight = lb_load_int(&sp.eps[j].state.weight)
        if weight <= 0:
            continue
        dw = <uint64_t>weight if weighted else 1
        doh = _ep_overhead(&sp.eps[j])
        av = ctx.n_avoid != 0 and _avoided(ctx, sp.eps[j].ep_id)
        b = best_avoided if av else best
        if b < 0 or oh[av] * dw > doh * w[av]:
            oh[av] = doh
            w[av] = dw
            if av:
                best_avoided = j
            else:
                best = j
    return best if best >= 0 else best_avoided


cdef int _lc_init(lb_sp *sp) noexcept nogil:
    sp.sched_data = NULL        # the counts live in the endpoint states
    return 0


cdef int _lc_update(lb_sp *sp, lb_sp *old) noexcept nogil:
    return _lc_init(sp)


cdef void _lc_done(lb_sp *sp) noexcept nogil:
    pass


cdef int _lc_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    return _least_pick(sp, ctx, 0)


cdef lb_sched_ops SCHED_LC = lb_sched_ops(name="lc", flags=0, options=0, init=_lc_init,
                                          update=_lc_update, pick=_lc_pick, done=_lc_done)
_sched_register(&SCHED_LC)
