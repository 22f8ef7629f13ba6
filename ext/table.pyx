# The compiled service table: built from plain Python data with the GIL, then immutable.
# Workers find a frontend by hashing (listener id, local ip, port, kind) and a service port by
# binary search on sp_id; connections keep ids and state pointers, never pointers into a table.


cdef int _ip16_parse(object ip, uint8_t *out) except -2:
    """IPv4 or IPv6 text to 16 bytes (IPv4 mapped as ::ffff:a.b.c.d); -1 if not an address."""
    cdef bytes b = ip.encode() if isinstance(ip, str) else bytes(ip)
    cdef uint8_t v4[4]
    memset(out, 0, 16)
    if inet_pton(AF_INET, b, v4) == 1:
        out[10] = 0xff
        out[11] = 0xff
        memcpy(out + 12, v4, 4)
        return 0
    if inet_pton(AF_INET6, b, out) == 1:
        return 0
    return -1


cdef int _addr_parse(object ip, object port, lb_addr *out) except -1:
    cdef bytes b = str(ip).encode()
    cdef sockaddr_in *sin = <sockaddr_in *>&out.sa
    cdef int p = int(port)
    if not 0 < p < 65536:
        raise ValueError(f"port out of range 1-65535: {port!r}")
    memset(out, 0, sizeof(lb_addr))
    if inet_pton(AF_INET, b, &sin.sin_addr) == 1:
        sin.sin_family = AF_INET
        sin.sin_port = htons(p)
        out.len = sizeof(sockaddr_in)
        return 0
    if inet_pton(AF_INET6, b, &out.sa.sin6_addr) == 1:
        out.sa.sin6_family = AF_INET6
        out.sa.sin6_port = htons(p)
        out.len = sizeof(sockaddr_in6)
        return 0
    raise ValueError(f"not an IP address: {ip!r}")


cdef inline void _addr_ip16(const lb_addr *a, uint8_t *out) noexcept nogil:
    """The address's IP as 16 bytes, IPv4 and IPv4-mapped IPv6 both as ::ffff:a.b.c.d."""
    cdef const sockaddr_in *sin = <const sockaddr_in *>&a.sa
    if a.sa.sin6_family == AF_INET:
        memset(out, 0, 10)
        out[10] = 0xff
        out[11] = 0xff
        memcpy(out + 12, &sin.sin_addr, 4)
    else:
        memcpy(out, a.sa.sin6_addr.s6_addr, 16)


cdef inline uint32_t _addr_port(const lb_addr *a) noexcept nogil:
    return ntohs(a.sa.sin6_port)   # sin_port and sin6_port share their offset


cdef object _addr_format(const lb_addr *a):
    """(ip text, port); IPv4-mapped IPv6 shown as IPv4."""
    cdef char buf[64]
    cdef const sockaddr_in *sin = <const sockaddr_in *>&a.sa
    cdef const uint8_t *b6 = <const uint8_t *>a.sa.sin6_addr.s6_addr
    if a.len == 0:
        return ("", 0)
    if a.sa.sin6_family == AF_INET:
        inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof(buf))
    elif (memcmp(b6, b"\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0):
        inet_ntop(AF_INET, b6 + 12, buf, sizeof(buf))
    else:
        inet_ntop(AF_INET6, b6, buf, sizeof(buf))
    return (buf.decode(), _addr_port(a))


cdef inline uint32_t _fekey_hash(const lb_fekey *k) noexcept nogil:
    cdef const uint8_t *p = <const uint8_t *>k
    cdef uint32_t h = 2166136261u
    cdef size_t i
    for i in range(sizeof(lb_fekey)):
        h = (h ^ p[i]) * 16777619u
    return h


cdef inline void _fekey_set(lb_fekey *k, int64_t lid, const uint8_t *ip, uint32_t port, uint32_t kind) noexcept nogil:
    memset(k, 0, sizeof(lb_fekey))
    k.listener_id = lid
    if ip != NULL:
        memcpy(k.ip, ip, 16)
    k.port = port
    k.kind = kind


cdef lb_feslot *_fe_slot(const lb_table *t, const lb_fekey *k) noexcept nogil:
    """Slot holding k, or the free slot where it goes."""
    cdef uint32_t mask = t.fe_cap - 1
    cdef uint32_t i = _fekey_hash(k) & mask
    while t.fe[i].used and memcmp(&t.fe[i].key, k, sizeof(lb_fekey)) != 0:
        i = (i + 1) & mask
    return &t.fe[i]


cdef int _fe_lookup(const lb_table *t, int64_t lid, bint wildcard, const lb_addr *local) noexcept nogil:
    """Index of the service port a connection on listener lid (local address) goes to; -1 if none."""
    cdef lb_fekey k
    cdef lb_feslot *s
    cdef uint8_t ip[16]
    cdef uint32_t port
    if t == NULL or t.fe_cap == 0:
        return -1
    if not wildcard:
        _fekey_set(&k, lid, NULL, 0, FE_LISTENER)
        s = _fe_slot(t, &k)
        return s.sp_idx if s.used else -1
    _addr_ip16(local, ip)
    port = _addr_port(local)
    _fekey_set(&k, lid, ip, port, FE_ADDR_PORT)
    s = _fe_slot(t, &k)
    if s.used:
        return s.sp_idx
    _fekey_set(&k, lid, NULL, port, FE_PORT)
    s = _fe_slot(t, &k)
    if s.used:
        return s.sp_idx
    _fekey_set(&k, lid, NULL, 0, FE_ANY)
    s = _fe_slot(t, &k)
    return s.sp_idx if s.used else -1


cdef int _sp_find(const lb_table *t, int64_t sp_id) noexcept nogil:
    """Index of sp_id in the table, -1 if absent."""
    cdef int lo = 0, hi, mid
    if t == NULL:
        return -1
    hi = t.n_sps - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        if t.sps[mid].sp_id == sp_id:
            return mid
        if t.sps[mid].sp_id < sp_id:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


cdef void _table_free(lb_table *t) noexcept nogil:
    cdef int i
    if t == NULL:
        return
    if t.sps != NULL:
        for i in range(t.n_sps):
            free(t.sps[i].eps)
        free(t.sps)
    free(t.fe)
    free(t)


cdef lb_spstate *_spstate_new(int64_t sp_id, int n_workers) noexcept nogil:
    cdef lb_spstate *s = <lb_spstate *>calloc(1, sizeof(lb_spstate))
    if s == NULL:
        return NULL
    s.cnt = <lb_spcnt *>calloc(n_workers, sizeof(lb_spcnt))
    if s.cnt == NULL:
        free(s)
        return NULL
    s.sp_id = sp_id
    _affinity_init(&s.aff)
    return s


cdef void _spstate_free(lb_spstate *s) noexcept nogil:
    _affinity_free(&s.aff)
    free(s.cnt)
    free(s)


cdef lb_epstate *_epstate_new(int64_t ep_id, int n_workers) noexcept nogil:
    cdef lb_epstate *s = <lb_epstate *>calloc(1, sizeof(lb_epstate))
    if s == NULL:
        return NULL
    s.cnt = <lb_epcnt *>calloc(n_workers, sizeof(lb_epcnt))
    if s.cnt == NULL:
        free(s)
        return NULL
    s.ep_id = ep_id
    return s


cdef void _epstate_free(lb_epstate *s) noexcept nogil:
    free(s.cnt)
    free(s)


cdef list _table_parse(object table):
    """Validates the plain-data table; returns [(sp_id, affinity_ns, [(ep_id, ip, port)])] sorted."""
    if not isinstance(table, dict):
        raise TypeError(f"apply: table must be a dict, not {type(table).__name__}")
    out = []
    seen = set()
    for item in table.get("service_ports", ()):
        try:
            sp_id, name, scheduler, affinity_timeout, endpoints = item
        except (TypeError, ValueError):
            raise ValueError(f"apply: service_ports entry must be (sp_id, name, scheduler, "
                             f"affinity_timeout, endpoints): {item!r}") from None
        sp_id = int(sp_id)
        if sp_id in seen:
            raise ValueError(f"apply: sp_id {sp_id} ({name}) appears twice")
        seen.add(sp_id)
        if scheduler not in ("rr", "", None):
            raise ValueError(f"apply: service port {name} (sp_id {sp_id}): scheduler "
                             f"{scheduler!r} is not supported: supported: rr")
        affinity_timeout = float(affinity_timeout or 0)
        if affinity_timeout < 0:
            raise ValueError(f"apply: service port {name} (sp_id {sp_id}): affinity_timeout "
                             f"must be >= 0: {affinity_timeout}")
        eps = []
        for ep in endpoints:
            try:
                ep_id, ip, port, weight = ep
            except (TypeError, ValueError):
                raise ValueError(f"apply: service port {name} (sp_id {sp_id}): endpoint must be "
                                 f"(ep_id, ip, port, weight): {ep!r}") from None
            if weight is not None and int(weight) <= 0:
                continue
            eps.append((int(ep_id), ip, port))
        out.append((sp_id, int(affinity_timeout * 1e9), eps))
    out.sort(key=lambda e: e[0])
    return out


cdef lb_table *_table_build(object table, dict spstates, dict epstates, int n_workers,
                            uint64_t generation) except NULL:
    """Compiles table (docs/internals.md shape). New per-sp/per-ep states are added to the
    registries. Raises ValueError/TypeError on bad input, leaving nothing published."""
    cdef list parsed = _table_parse(table)
    cdef list frontends = list(table.get("frontends", ()))
    cdef lb_table *t = <lb_table *>calloc(1, sizeof(lb_table))
    cdef lb_sp *sp
    cdef lb_endpoint *ep
    cdef lb_spstate *sps
    cdef lb_epstate *eps
    cdef lb_fekey k
    cdef lb_feslot *slot
    cdef uint8_t ip16[16]
    cdef int i, j, n, sp_idx
    cdef uint32_t cap = 16
    if t == NULL:
        raise MemoryError()
    try:
        t.generation = generation
        t.n_sps = len(parsed)
        t.sps = <lb_sp *>calloc(t.n_sps if t.n_sps else 1, sizeof(lb_sp))
        if t.sps == NULL:
            raise MemoryError()
        for i, (sp_id, affinity_ns, endpoints) in enumerate(parsed):
            sp = &t.sps[i]
            sp.sp_id = sp_id
            sp.affinity_ns = affinity_ns
            n = len(endpoints)
            sp.eps = <lb_endpoint *>calloc(n if n else 1, sizeof(lb_endpoint))
            if sp.eps == NULL:
                raise MemoryError()
            for j, (ep_id, ip, port) in enumerate(endpoints):
                ep = &sp.eps[j]
                ep.ep_id = ep_id
                _addr_parse(ip, port, &ep.addr)
            sp.n_eps = n
        while cap < <uint32_t>(len(frontends) * 8 + 8):
            cap <<= 1
        t.fe_cap = cap
        t.fe = <lb_feslot *>calloc(cap, sizeof(lb_feslot))
        if t.fe == NULL:
            raise MemoryError()
        for item in frontends:
            try:
                lid, local_ip, local_port, sp_id = item
            except (TypeError, ValueError):
                raise ValueError(f"apply: frontends entry must be (listener_id, local_ip, "
                                 f"local_port, sp_id): {item!r}") from None
            sp_idx = _sp_find(t, int(sp_id))
            local_port = int(local_port or 0)
            # FE_LISTENER: the first entry of a listener serves non-wildcard lookups
            _fekey_set(&k, lid, NULL, 0, FE_LISTENER)
            slot = _fe_slot(t, &k)
            if not slot.used:
                slot.key = k
                slot.used = 1
                slot.sp_idx = sp_idx
            if local_ip:
                if _ip16_parse(local_ip, ip16) < 0:
                    raise ValueError(f"apply: frontend {item!r}: not an IP address: {local_ip!r}")
                _fekey_set(&k, lid, ip16, local_port, FE_ADDR_PORT)
            elif local_port:
                _fekey_set(&k, lid, NULL, local_port, FE_PORT)
            else:
                _fekey_set(&k, lid, NULL, 0, FE_ANY)
            slot = _fe_slot(t, &k)
            if not slot.used:
                slot.key = k
                slot.used = 1
                slot.sp_idx = sp_idx
        # all input valid: attach the persistent states
        for i in range(t.n_sps):
            sp = &t.sps[i]
            p = spstates.get(sp.sp_id)
            if p is None:
                sps = _spstate_new(sp.sp_id, n_workers)
                if sps == NULL:
                    raise MemoryError()
                spstates[sp.sp_id] = <uintptr_t>sps
            sp.state = <lb_spstate *><uintptr_t>spstates[sp.sp_id]
            for j in range(sp.n_eps):
                ep = &sp.eps[j]
                p = epstates.get(ep.ep_id)
                if p is None:
                    eps = _epstate_new(ep.ep_id, n_workers)
                    if eps == NULL:
                        raise MemoryError()
                    epstates[ep.ep_id] = <uintptr_t>eps
                ep.state = <lb_epstate *><uintptr_t>epstates[ep.ep_id]
    except BaseException:
        _table_free(t)
        raise
    return t
