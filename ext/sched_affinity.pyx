# ClientIP session affinity (persistence, in ipvs' word), as kube-proxy's userspace proxier
# (k/k pkg/proxy/userspace/roundrobin.go, affinityState): a client IP keeps the endpoint it was
# given while it comes back within the timeout, and each use refreshes it. A miss, an expired
# entry, an entry whose endpoint is not eligible or no longer in the row, or a reset after a
# failed connect (kube-proxy's sessionAffinityReset) asks the service port's scheduler
# (_sched_pick: any algorithm, through slow start) and records its answer. Times are integer nanoseconds and "within" means
# now - last < timeout (kube-proxy truncated to whole seconds). Expired entries are reaped by
# _affinity_reap. One table per service port (in its state, so it carries over applies),
# shared by all workers behind a mutex.


cdef int _affinity_init(lb_affinity *a) noexcept nogil:
    pthread_mutex_init(&a.lock, NULL)
    a.slots = NULL
    a.cap = 0
    a.count = 0
    return 0


cdef void _affinity_free(lb_affinity *a) noexcept nogil:
    pthread_mutex_destroy(&a.lock)
    free(a.slots)
    a.slots = NULL
    a.cap = 0
    a.count = 0


cdef inline uint32_t _affinity_hash(const uint8_t *ip) noexcept nogil:
    cdef uint32_t h = 2166136261u
    cdef int i
    for i in range(16):
        h = (h ^ ip[i]) * 16777619u
    return h


cdef lb_affent *_affinity_slot(lb_affinity *a, const uint8_t *ip) noexcept nogil:
    """The entry for ip, or the free slot where it belongs. Needs cap > count."""
    cdef uint32_t mask = a.cap - 1
    cdef uint32_t i = _affinity_hash(ip) & mask
    while a.slots[i].used and memcmp(a.slots[i].ip, ip, 16) != 0:
        i = (i + 1) & mask
    return &a.slots[i]


cdef int _affinity_rehash(lb_affinity *a, uint32_t cap, uint64_t now, uint64_t timeout) noexcept nogil:
    """Rebuilds the table with cap slots; timeout > 0 also drops entries expired at now."""
    cdef lb_affent *old = a.slots
    cdef uint32_t oldcap = a.cap, i
    cdef lb_affent *e
    cdef lb_affent *fresh = <lb_affent *>calloc(cap, sizeof(lb_affent))
    if fresh == NULL:
        return -ENOMEM
    a.slots = fresh
    a.cap = cap
    a.count = 0
    for i in range(oldcap):
        if not old[i].used:
            continue
        if timeout and <int64_t>(now - old[i].last_ns) >= <int64_t>timeout:
            continue
        e = _affinity_slot(a, old[i].ip)
        e[0] = old[i]
        a.count += 1
    free(old)
    return 0


cdef int _affinity_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    """Index into sp.eps for ctx's client under sp's affinity (sp.state.aff, sp.affinity_ns
    > 0); -1 when sp has no eligible endpoint, leaving the client's entry as it was.
    ctx.failed: the recorded endpoint just failed; ask the scheduler and replace the entry."""
    cdef lb_affinity *a = &sp.state.aff
    cdef lb_affent *e
    cdef int i, idx
    if sp.n_eps <= 0:
        return -1
    pthread_mutex_lock(&a.lock)
    if (a.count + 1) * 2 > a.cap:
        if _affinity_rehash(a, a.cap * 2 if a.cap else 16, 0, 0) < 0:
            pthread_mutex_unlock(&a.lock)
            return _sched_pick(sp, ctx)
    e = _affinity_slot(a, ctx.client_ip)
    if e.used and not ctx.failed and <int64_t>(ctx.now - e.last_ns) < <int64_t>sp.affinity_ns:
        for i in range(sp.n_eps):
            if sp.eps[i].ep_id == e.ep_id and _ep_eligible(&sp.eps[i]):
                e.last_ns = ctx.now
                pthread_mutex_unlock(&a.lock)
                return i
    idx = _sched_pick(sp, ctx)
    if idx >= 0:
        if not e.used:
            memcpy(e.ip, ctx.client_ip, 16)
            e.used = 1
            a.count += 1
        e.ep_id = sp.eps[idx].ep_id
        e.last_ns = ctx.now
    pthread_mutex_unlock(&a.lock)
    return idx


cdef void _affinity_reap(lb_affinity *a, uint64_t now, uint64_t timeout) noexcept nogil:
    """Drops the entries expired at now."""
    pthread_mutex_lock(&a.lock)
    if a.count:
        _affinity_rehash(a, a.cap, now, timeout)
    pthread_mutex_unlock(&a.lock)


cdef class AffinityTable:
    """Test hook: one service port's affinity table in front of the rr scheduler, driven
    through the same C functions the workers call. Times are integer nanoseconds."""
    cdef lb_spstate *_state     # the affinity table and the rr cursor
    cdef uint64_t _timeout

    def __cinit__(self, timeout_ns):
        self._state = _spstate_new(0, 1)
        if self._state == NULL:
            raise MemoryError()
        self._timeout = timeout_ns

    def __dealloc__(self):
        if self._state != NULL:
            _spstate_free(self._state)

    def pick(self, client_ip, uint64_t now_ns, endpoints, bint reset=False, weights=None):
        """ep_id chosen for client_ip among endpoints (a sequence of ep_ids); weights: one per
        endpoint, <= 0 not eligible, None all eligible. None when no endpoint is eligible."""
        cdef lb_pick_ctx ctx
        cdef lb_sp *row
        cdef int idx
        _hook_ctx(&ctx, client_ip, 0, now_ns, None)
        ctx.failed = reset          # as kube-proxy's reset: no endpoint to avoid
        row = _row_scratch(endpoints, weights, self._state)
        try:
            row.affinity_ns = self._timeout
            idx = _affinity_pick(row, &ctx)
            return None if idx < 0 else row.eps[idx].ep_id
        finally:
            free(row)

    def reap(self, uint64_t now_ns):
        _affinity_reap(&self._state.aff, now_ns, self._timeout)

    def __len__(self):
        return self._state.aff.count
