# Weighted least connections, as IPVS wlc (net/netfilter/ipvs/ip_vs_wlc.c), IPVS's default
# scheduler: lc's overhead (active x 256 + inactive, sched_lc.pyx) divided by the endpoint's
# effective weight, compared without division (loh x dw > doh x lw means d is less loaded),
# the first in row order on a tie. Weights are read live at each pick, so set_endpoint_state
# takes effect without a rebuild. pick: O(n x workers), like lc; no scheduler data.


cdef int _wlc_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    return _least_pick(sp, ctx, 1)


cdef lb_sched_ops SCHED_WLC = lb_sched_ops(name="wlc", flags=0, options=0, init=_lc_init,
                                           update=_lc_update, pick=_wlc_pick, done=_lc_done)
_sched_register(&SCHED_WLC)
