# Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
# Load Balancer", NSDI'16, section 3.4; IPVS mh, net/netfilter/ipvs/ip_vs_mh.c). Each endpoint
# has a permutation of the M slots of a lookup table (M prime, the row option mh_table_size,
# default 65,537): offset = h1(name) mod M, skip = h2(name) mod (M - 1) + 1, its j-th
# preference (offset + j x skip) mod M. Endpoints take turns claiming their next preferred
# free slot until the table is full, so each gets about M / N slots, and a client's address
# (and port, with hash_port) hashes to a slot. A changed endpoint set moves few clients besides
# those of the endpoints that left (the paper's Figure 8; bench/maglev.py measures it).
#
# Every node computes the same table from the same endpoints: the name is the endpoint's
# "ip:port" text (_ep_name), not its ep_id, and endpoints take turns in the order of their
# names, not the manifest's. Weights are repeated turns (IPVS mh): an endpoint of weight w
# claims w / gcd slots per round, scaled down to at most 2^LB_MH_TURN_BITS turns. The table
# holds eligible endpoints only (weight > 0; kubernetes PR #138688): a draining or ejected
# endpoint is not in it, and set_endpoint_state rebuilds it when a weight changes
# (LB_SCHED_F_WEIGHTS). A client whose endpoint is not pickable before that rebuild, or on a
# retry, rehashes (_hash_pick, IPVS's mh-fallback). While endpoints are in slow start a second
# table without them tells where their turned-away clients stay (lb_slots.settled).
#
# pick: O(1). Build: O(M log M) slot probes, the table M x 2 bytes (128 KiB at 65,537; twice
# that while endpoints are in slow start).

ctypedef struct _mh_ep:
    char name[LB_EP_NAME_MAX]
    int64_t ep_id
    int i                       # index into the row's eps
    uint32_t offset             # its first preferred slot
    uint32_t next               # its next preferred slot
    uint32_t skip
    uint32_t turns              # slots claimed per round


cdef int _mh_ep_cmp(const void *a, const void *b) noexcept nogil:
    """By name, then ep_id (only duplicate addresses tie)."""
    cdef const _mh_ep *x = <const _mh_ep *>a
    cdef const _mh_ep *y = <const _mh_ep *>b
    cdef int c = strcmp(x.name, y.name)
    if c:
        return c
    return -1 if x.ep_id < y.ep_id else (1 if x.ep_id > y.ep_id else 0)


cdef void _mh_populate(uint16_t *table, uint32_t size, _mh_ep *eps, int m) noexcept nogil:
    """The paper's Populate: eps[0..m) (m > 0) in order claim their next free preferred slot,
    turns times per round, until all size slots of table are taken."""
    cdef uint32_t filled = 0, c, r
    cdef int e
    for c in range(size):
        table[c] = LB_SLOT_EMPTY
    for e in range(m):
        eps[e].next = eps[e].offset
    while True:
        for e in range(m):
            for r in range(eps[e].turns):
                c = eps[e].next
                while table[c] != LB_SLOT_EMPTY:
                    c += eps[e].skip
                    if c >= size:
                        c -= size
                table[c] = <uint16_t>eps[e].i
                c += eps[e].skip
                eps[e].next = c - size if c >= size else c
                filled += 1
                if filled == size:
                    return


cdef int _mh_init(lb_sp *sp) noexcept nogil:
    cdef uint32_t size = sp.opts.table_size if sp.opts.table_size else LB_MH_DEFAULT_SIZE
    cdef lb_eligible el
    cdef _mh_ep *eps
    cdef lb_slots *s
    cdef uint64_t most = 0
    cdef int e, shift = 0, length, settled = 0
    sp.sched_data = NULL
    if _eligible_new(sp, sizeof(_mh_ep), &el) < 0:
        return -ENOMEM
    eps = <_mh_ep *>el.extra
    s = _slots_new(size if el.m else 0, 0 < el.ramping < el.m)
    if s != NULL and el.m:
        for e in range(el.m):
            if el.w[e] > most:
                most = el.w[e]
        while (most >> shift) >= (<uint64_t>1 << LB_MH_TURN_BITS):
            shift += 1
        for e in range(el.m):
            length = _ep_name(&sp.eps[el.idx[e]].addr, eps[e].name)
            eps[e].ep_id = sp.eps[el.idx[e]].ep_id
            eps[e].i = el.idx[e]
            eps[e].offset = <uint32_t>(_hash64(<uint8_t *>eps[e].name, length, LB_SEED_MH_OFFSET) % size)
            eps[e].skip = <uint32_t>(_hash64(<uint8_t *>eps[e].name, length, LB_SEED_MH_SKIP) % (size - 1) + 1)
            eps[e].turns = <uint32_t>(el.w[e] >> shift)
            if eps[e].turns == 0:
                eps[e].turns = 1
        qsort(eps, el.m, sizeof(_mh_ep), _mh_ep_cmp)
        _mh_populate(s.slot, size, eps, el.m)
        if s.settled != NULL:       # the table without the endpoints in slow start
            for e in range(el.m):
                if not _ep_ramping(sp, eps[e].i):
                    eps[settled] = eps[e]
                    settled += 1
            _mh_populate(s.settled, size, eps, settled)
    free(el.w)
    return _slots_set(sp, s)


cdef int _mh_update(lb_sp *sp, lb_sp *old) noexcept nogil:
    return _mh_init(sp)         # a function of the endpoint set alone: nothing carries over


cdef int _mh_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    return _hash_pick(sp, ctx)


cdef lb_sched_ops SCHED_MH = lb_sched_ops(
    name="mh", flags=LB_SCHED_F_WEIGHTS | LB_SCHED_F_SLOTS | LB_SCHED_F_CLIENT_HASH,
    options=LB_OPT_HASH_PORT | LB_OPT_MH_TABLE_SIZE,
    init=_mh_init, update=_mh_update, pick=_mh_pick, done=_slots_done)
_sched_register(&SCHED_MH)
