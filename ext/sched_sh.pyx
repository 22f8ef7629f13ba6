# Source hashing, after IPVS sh (net/netfilter/ipvs/ip_vs_sh.c): the client's address (and
# port, with the row option hash_port) hashes to one of LB_SH_BUCKETS buckets, each holding an
# endpoint, so a client keeps its endpoint while the table holds. Weights give endpoints
# buckets in proportion (largest remainder: floor(S x w / W) each, the buckets left over to the
# largest remainders, the first in row order on a tie); only eligible endpoints get buckets.
#
# Unlike IPVS, which deals every bucket out again on any change (removing one of three
# endpoints moves about half the clients of the other two), a rebuild keeps each bucket whose
# endpoint is still eligible, up to that endpoint's new share (its lowest buckets first), and
# deals out only the rest, round robin over the endpoints below their share: removing or
# draining an endpoint moves only its clients, adding one moves only the clients it takes
# over. The table thus depends on the order of changes, and nodes with different histories
# may disagree; mh gives every node the same answer. A client whose endpoint is no longer
# pickable rehashes (_hash_pick, IPVS's sh-fallback). While endpoints are in slow start, their
# buckets remember their previous owner (lb_slots.settled), where turned-away clients stay.
# pick: O(1); build O(S + n log n).

ctypedef struct _sh_rank:
    uint64_t key                # remainder (quotas), or ep_id (the old -> new index map)
    int i


cdef int _sh_rank_cmp(const void *a, const void *b) noexcept nogil:
    """Remainders in decreasing order, then index in increasing order."""
    cdef const _sh_rank *x = <const _sh_rank *>a
    cdef const _sh_rank *y = <const _sh_rank *>b
    if x.key != y.key:
        return -1 if x.key > y.key else 1
    return x.i - y.i


cdef int _sh_id_cmp(const void *a, const void *b) noexcept nogil:
    """ep_ids in increasing order (as signed), then index."""
    cdef const _sh_rank *x = <const _sh_rank *>a
    cdef const _sh_rank *y = <const _sh_rank *>b
    if x.key != y.key:
        return -1 if <int64_t>x.key < <int64_t>y.key else 1
    return x.i - y.i


cdef int _sh_index_of(const _sh_rank *ids, int n, int64_t ep_id) noexcept nogil:
    """The first row index holding ep_id in ids (sorted by _sh_id_cmp), -1 if none."""
    cdef int lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if <int64_t>ids[mid].key < ep_id:
            lo = mid + 1
        else:
            hi = mid
    return ids[lo].i if lo < n and <int64_t>ids[lo].key == ep_id else -1


cdef void _sh_quotas(int m, const int *idx, const uint64_t *w, uint32_t *quota, _sh_rank *rank) noexcept nogil:
    """Sets quota[idx[e]] to eligible endpoint e's share of LB_SH_BUCKETS (see the top)."""
    cdef uint64_t total = 0, given = 0
    cdef int e
    for e in range(m):
        total += w[e]
    for e in range(m):
        quota[idx[e]] = <uint32_t>(LB_SH_BUCKETS * w[e] // total)
        given += quota[idx[e]]
        rank[e].key = LB_SH_BUCKETS * w[e] % total
        rank[e].i = e
    qsort(rank, m, sizeof(_sh_rank), _sh_rank_cmp)
    for e in range(LB_SH_BUCKETS - <int>given):
        quota[idx[rank[e].i]] += 1


cdef int *_sh_index_map(const lb_sp *sp, const lb_sp *old, _sh_rank *ids) noexcept nogil:
    """For each endpoint index of old, the first index in sp with its ep_id or -1 (malloc'd;
    NULL when out of memory). ids: scratch of sp.n_eps entries."""
    cdef int *map = <int *>malloc((old.n_eps + 1) * sizeof(int))
    cdef int j
    if map == NULL:
        return NULL
    for j in range(sp.n_eps):
        ids[j].key = <uint64_t>sp.eps[j].ep_id
        ids[j].i = j
    qsort(ids, sp.n_eps, sizeof(_sh_rank), _sh_id_cmp)
    for j in range(old.n_eps):
        map[j] = _sh_index_of(ids, sp.n_eps, old.eps[j].ep_id)
    return map


cdef void _sh_settle(const lb_sp *sp, const lb_slots *o, const int *map, lb_slots *s) noexcept nogil:
    """s.settled: a bucket of an endpoint in slow start keeps who held it before (in o, as
    settled there if it was settled), while that one is eligible and not in slow start."""
    cdef int b, j
    for b in range(LB_SH_BUCKETS):
        s.settled[b] = s.slot[b]
        if _ep_ramping(sp, s.slot[b]):
            j = map[o.settled[b] if o.settled != NULL else o.slot[b]]
            if j >= 0 and sp.eps[j].sched_weight > 0 and not _ep_ramping(sp, j):
                s.settled[b] = <uint16_t>j


cdef int _sh_update(lb_sp *sp, lb_sp *old) noexcept nogil:
    cdef int n = sp.n_eps, p = 0, b, j
    cdef lb_eligible el
    cdef _sh_rank *rank
    cdef uint32_t *quota
    cdef uint32_t *count
    cdef const lb_slots *o = NULL
    cdef int *map = NULL
    cdef lb_slots *s
    sp.sched_data = NULL
    if old != NULL and old.sched_data != NULL and (<lb_slots *>old.sched_data).n == LB_SH_BUCKETS:
        o = <const lb_slots *>old.sched_data
    if _eligible_new(sp, sizeof(_sh_rank) + 2 * sizeof(uint32_t), &el) < 0:
        return -ENOMEM
    rank = <_sh_rank *>el.extra
    quota = <uint32_t *>(rank + n + 1)
    count = quota + n + 1
    # without the old table's owners: only a fresh deal, every client may move, none is lost
    map = _sh_index_map(sp, old, rank) if o != NULL and el.m else NULL
    s = _slots_new(LB_SH_BUCKETS if el.m else 0, el.ramping and map != NULL)
    if s != NULL and el.m:
        _sh_quotas(el.m, el.idx, el.w, quota, rank)
        for b in range(LB_SH_BUCKETS):
            s.slot[b] = LB_SLOT_EMPTY
        if map != NULL:         # keep old buckets whose endpoint stays, within its quota
            for b in range(LB_SH_BUCKETS):
                j = map[o.slot[b]]
                if j >= 0 and count[j] < quota[j]:
                    s.slot[b] = <uint16_t>j
                    count[j] += 1
        for b in range(LB_SH_BUCKETS):
            if s.slot[b] != LB_SLOT_EMPTY:
                continue
            while count[el.idx[p]] >= quota[el.idx[p]]:
                p = (p + 1) % el.m
            s.slot[b] = <uint16_t>el.idx[p]
            count[el.idx[p]] += 1
            p = (p + 1) % el.m
        if s.settled != NULL:
            _sh_settle(sp, o, map, s)
    free(el.w)
    free(map)
    return _slots_set(sp, s)


cdef int _sh_init(lb_sp *sp) noexcept nogil:
    return _sh_update(sp, NULL)


cdef int _sh_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    return _hash_pick(sp, ctx)


cdef lb_sched_ops SCHED_SH = lb_sched_ops(
    name="sh", flags=LB_SCHED_F_WEIGHTS | LB_SCHED_F_SLOTS | LB_SCHED_F_CLIENT_HASH,
    options=LB_OPT_HASH_PORT, init=_sh_init, update=_sh_update, pick=_sh_pick, done=_slots_done)
_sched_register(&SCHED_SH)
