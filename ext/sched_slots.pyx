# What the table-driven schedulers share: a slot table of endpoint indices (lb_slots: wrr's
# sequence, sh's buckets, mh's Maglev table), the hashes that key them, and the pick through a
# client's hash with IPVS sh/mh's fallback (ip_vs_sh.c/ip_vs_mh.c ..._get_fallback: rehash
# with an offset until an available endpoint comes up).
#
# The hashes must be the same on every node and in lb/schedulers/hashing.py: FNV-1a 64 over
# the bytes, from an offset basis xor'ed with a fixed seed, then MurmurHash3's fmix64 finalizer
# (FNV alone mixes its last bytes poorly). A client is its 16-byte address (IPv4 as
# ::ffff:a.b.c.d), followed by its port in network order when the row hashes the port.


cdef inline uint64_t _fmix64(uint64_t h) noexcept nogil:
    h ^= h >> 33
    h *= LB_FMIX_C1
    h ^= h >> 33
    h *= LB_FMIX_C2
    h ^= h >> 33
    return h


cdef uint64_t _hash64(const uint8_t *p, size_t n, uint64_t seed) noexcept nogil:
    """FNV-1a 64 of p[0..n) from the offset basis xor seed, finished with fmix64."""
    cdef uint64_t h = LB_FNV64_OFFSET ^ seed
    cdef size_t i
    for i in range(n):
        h = (h ^ p[i]) * LB_FNV64_PRIME
    return _fmix64(h)


cdef inline uint64_t _client_hash(const lb_pick_ctx *ctx, bint with_port, uint64_t seed) noexcept nogil:
    cdef uint8_t key[18]
    memcpy(key, ctx.client_ip, 16)
    if not with_port:
        return _hash64(key, 16, seed)
    key[16] = <uint8_t>(ctx.client_port >> 8)
    key[17] = <uint8_t>(ctx.client_port & 0xff)
    return _hash64(key, 18, seed)


cdef int _ep_name(const lb_addr *a, char *buf) noexcept nogil:
    """Writes a's "ip:port" text ("[ip]:port" for IPv6; an IPv4-mapped address as IPv4) and a
    NUL into buf (LB_EP_NAME_MAX bytes); returns its length. Consistent hashing keys on it, so
    every node names an endpoint alike whatever its ep_id or place in the manifest."""
    cdef const sockaddr_in *sin = <const sockaddr_in *>&a.sa
    cdef const uint8_t *b6 = <const uint8_t *>a.sa.sin6_addr.s6_addr
    cdef char digits[8]
    cdef int n = 0, k = 0
    cdef uint32_t port = _addr_port(a)
    if a.sa.sin6_family == AF_INET:
        inet_ntop(AF_INET, &sin.sin_addr, buf, LB_EP_NAME_MAX)
    elif memcmp(b6, b"\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0:
        inet_ntop(AF_INET, b6 + 12, buf, LB_EP_NAME_MAX)
    else:
        buf[0] = 91         # '['
        inet_ntop(AF_INET6, b6, buf + 1, LB_EP_NAME_MAX - 1)
        n = <int>strlen(buf)
        buf[n] = 93     # ']'
        buf[n + 1] = 0
    n = <int>strlen(buf)
    buf[n] = 58         # ':'
    n += 1
    while True:
        digits[k] = <char>(48 + port % 10)     # '0' + digit
        k += 1
        port //= 10
        if port == 0:
            break
    while k:
        k -= 1
        buf[n] = digits[k]
        n += 1
    buf[n] = 0
    return n


cdef lb_slots *_slots_new(uint32_t n, bint settled) noexcept nogil:
    """An lb_slots of n slots (their values unset), with settled slots too when asked; NULL
    when out of memory."""
    cdef lb_slots *s = <lb_slots *>malloc(sizeof(lb_slots) + n * sizeof(uint16_t) * (2 if settled else 1) + 1)
    if s == NULL:
        return NULL
    s.n = n
    s.slot = <uint16_t *>(s + 1)
    s.settled = s.slot + n if settled else NULL
    return s


cdef void _slots_done(lb_sp *sp) noexcept nogil:
    """ops.done of every lb_slots scheduler."""
    free(sp.sched_data)
    sp.sched_data = NULL


cdef int _hash_pick(const lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    """sh/mh pick: the endpoint in the client's slot; when it is not pickable (it left the
    eligible set since the build, or ctx avoids it), the slot's settled endpoint if any, then
    the slot of the k-th rehash for k = 1..LB_HASH_TRIES - 1, then a scan of the row from the
    last one. O(1) but in those cases."""
    cdef const lb_slots *s = <const lb_slots *>sp.sched_data
    cdef uint64_t h
    cdef int i = 0, k
    if s == NULL or s.n == 0:
        return _sched_scan(sp, ctx, 0, NULL)
    for k in range(LB_HASH_TRIES):
        h = _client_hash(ctx, sp.opts.hash_port, LB_SEED_LOOKUP + <uint64_t>k) % s.n
        i = s.slot[h]
        if _ep_pickable(sp, ctx, i):
            return i
        if k == 0 and s.settled != NULL and _ep_pickable(sp, ctx, s.settled[h]):
            return s.settled[h]
    return _sched_scan(sp, ctx, i, NULL)


cdef int _eligible_new(const lb_sp *sp, size_t extra_size, lb_eligible *el) noexcept nogil:
    """Fills el with sp's eligible endpoints (see lb_eligible) and scratch of extra_size bytes
    per endpoint (8-byte aligned); 0, or -ENOMEM. Release with free(el.w)."""
    cdef int j, n = sp.n_eps
    cdef uint64_t g = 0, a, b
    el.w = <uint64_t *>calloc(n + 1, sizeof(uint64_t) + extra_size + sizeof(int))
    if el.w == NULL:
        return -ENOMEM
    el.extra = el.w + n + 1
    el.idx = <int *>(<char *>el.extra + (n + 1) * extra_size)
    el.m = 0
    el.ramping = 0
    for j in range(n):
        if sp.eps[j].sched_weight > 0:
            el.idx[el.m] = j
            el.w[el.m] = <uint64_t>sp.eps[j].sched_weight
            el.ramping += _ep_ramping(sp, j)
            a, b = el.w[el.m], g
            while b:
                a, b = b, a % b
            g = a
            el.m += 1
    for j in range(el.m):
        el.w[j] //= g
    return 0


cdef int _slots_set(lb_sp *sp, lb_slots *s) noexcept nogil:
    """The end of a slot scheduler's init: s becomes sp's data; -ENOMEM when s is NULL."""
    if s == NULL:
        return -ENOMEM
    sp.sched_data = s
    return 0
