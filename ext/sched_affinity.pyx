# ClientIP session affinity, as kube-proxy's userspace proxier (roundrobin.go, affinityState):
# a client IP keeps the endpoint it was given while it comes back within the timeout, and each
# use refreshes it. A miss, an expired entry, an entry whose endpoint is no longer in the table,
# or a reset after a failed connect (kube-proxy's sessionAffinityReset) takes the next round-robin
# endpoint and records it. Times are integer nanoseconds and "within" means now - last < timeout
# (kube-proxy truncated to whole seconds). Expired entries are reaped by _affinity_reap.
# One table per service port, shared by all workers behind a mutex.


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


cdef int _affinity_pick(lb_affinity *a, const uint8_t *ip, uint64_t now, uint64_t timeout,
                        const lb_endpoint *eps, int n, uint64_t *rr, bint reset) noexcept nogil:
    """Index into eps (n endpoints) for client ip at time now; -1 when n == 0.
    reset: ignore the recorded entry (the previous connect to it failed) and replace it."""
    cdef lb_affent *e
    cdef int i, idx
    if n <= 0:
        return -1
    pthread_mutex_lock(&a.lock)
    if (a.count + 1) * 2 > a.cap:
        if _affinity_rehash(a, a.cap * 2 if a.cap else 16, 0, 0) < 0:
            pthread_mutex_unlock(&a.lock)
            return _rr_pick(rr, n)
    e = _affinity_slot(a, ip)
    if e.used and not reset and <int64_t>(now - e.last_ns) < <int64_t>timeout:
        for i in range(n):
            if eps[i].ep_id == e.ep_id:
                e.last_ns = now
                pthread_mutex_unlock(&a.lock)
                return i
    idx = _rr_pick(rr, n)
    if not e.used:
        memcpy(e.ip, ip, 16)
        e.used = 1
        a.count += 1
    e.ep_id = eps[idx].ep_id
    e.last_ns = now
    pthread_mutex_unlock(&a.lock)
    return idx


cdef void _affinity_reap(lb_affinity *a, uint64_t now, uint64_t timeout) noexcept nogil:
    """Drops the entries expired at now."""
    pthread_mutex_lock(&a.lock)
    if a.count:
        _affinity_rehash(a, a.cap, now, timeout)
    pthread_mutex_unlock(&a.lock)


cdef class AffinityTable:
    """Test hook: one service port's affinity table and rr cursor, driven through the same C
    functions the workers call. Times are integer nanoseconds."""
    cdef lb_affinity _a
    cdef uint64_t _rr
    cdef uint64_t _timeout

    def __cinit__(self, timeout_ns):
        _affinity_init(&self._a)
        self._rr = 0
        self._timeout = timeout_ns

    def __dealloc__(self):
        _affinity_free(&self._a)

    def pick(self, client_ip, uint64_t now_ns, endpoints, bint reset=False):
        """ep_id chosen for client_ip among endpoints (a sequence of ep_ids); None if empty."""
        cdef uint8_t ip[16]
        cdef int n = len(endpoints), i, idx
        if _ip16_parse(client_ip, ip) < 0:
            raise ValueError(f"not an IP address: {client_ip!r}")
        cdef lb_endpoint *eps = <lb_endpoint *>calloc(n if n else 1, sizeof(lb_endpoint))
        if eps == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                eps[i].ep_id = endpoints[i]
            idx = _affinity_pick(&self._a, ip, now_ns, self._timeout, eps, n, &self._rr, reset)
            return None if idx < 0 else eps[idx].ep_id
        finally:
            free(eps)

    def reap(self, uint64_t now_ns):
        _affinity_reap(&self._a, now_ns, self._timeout)

    def __len__(self):
        return self._a.count
