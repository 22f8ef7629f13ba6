# The compiled service table, as workers read it (built by table_build.pyx, immutable once
# published). Workers find a frontend's sp_id by hashing (listener id, local ip, port, kind)
# and the sp_id's row by a second O(1) hash; connections keep ids and state pointers, never
# pointers into a table, so they outlive the tables and rows that started them.


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


# -- lookups (workers) -------------------------------------------------------------------------

cdef inline bint _ep_eligible(lb_endpoint *ep) noexcept nogil:
    """Whether ep may get new connections: its effective weight (per ep_id, atomic) is > 0."""
    return lb_load_int(&ep.state.weight) > 0


cdef inline uint32_t _sp_hash(int64_t sp_id) noexcept nogil:
    return <uint32_t>((<uint64_t>sp_id * LB_HASH_MUL) >> 32)


cdef lb_sp *_sp_find(const lb_table *t, int64_t sp_id) noexcept nogil:
    """The row of sp_id in t; NULL when t has none or t is NULL (nothing applied yet)."""
    cdef uint32_t i
    if t == NULL:
        return NULL
    i = _sp_hash(sp_id) & t.sp_mask
    while t.sp_slots[i].row != NULL:
        if t.sp_slots[i].sp_id == sp_id:
            return t.sp_slots[i].row
        i = (i + 1) & t.sp_mask
    return NULL


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


cdef lb_feslot *_fe_slot(const lb_frontends *fe, const lb_fekey *k) noexcept nogil:
    """Slot holding k, or the free slot where it goes."""
    cdef uint32_t mask = fe.cap - 1
    cdef uint32_t i = _fekey_hash(k) & mask
    while fe.slots[i].used and memcmp(&fe.slots[i].key, k, sizeof(lb_fekey)) != 0:
        i = (i + 1) & mask
    return &fe.slots[i]


cdef int _fe_lookup(const lb_table *t, int64_t lid, bint wildcard, const lb_addr *local,
                    int64_t *sp_id) noexcept nogil:
    """Sets sp_id to the service port a connection on listener lid (local address) goes to;
    0 when found, -1 when no frontend matches or nothing is applied yet."""
    cdef lb_fekey k
    cdef lb_feslot *s
    cdef uint8_t ip[16]
    cdef uint32_t port
    if t == NULL:
        return -1
    if not wildcard:
        _fekey_set(&k, lid, NULL, 0, FE_LISTENER)
        s = _fe_slot(t.fe, &k)
    else:
        _addr_ip16(local, ip)
        port = _addr_port(local)
        _fekey_set(&k, lid, ip, port, FE_ADDR_PORT)
        s = _fe_slot(t.fe, &k)
        if not s.used:
            _fekey_set(&k, lid, NULL, port, FE_PORT)
            s = _fe_slot(t.fe, &k)
        if not s.used:
            _fekey_set(&k, lid, NULL, 0, FE_ANY)
            s = _fe_slot(t.fe, &k)
    if not s.used:
        return -1
    sp_id[0] = s.sp_id
    return 0


# -- lifetimes -----------------------------------------------------------------------------------

cdef uint32_t _hash_cap(Py_ssize_t n) noexcept nogil:
    """Capacity of an open-addressing table for n keys: a power of two >= 2n."""
    cdef uint32_t cap = LB_MIN_HASH_CAP
    while cap < 2 * n + 2:
        cap <<= 1
    return cap


cdef void _table_free(lb_table *t) noexcept nogil:
    """Frees t's own arrays; accepts NULL. Its rows and frontends are not touched."""
    if t == NULL:
        return
    free(t.rows)
    free(t.sp_slots)
    free(t)


cdef void _row_free(lb_sp *sp) noexcept nogil:
    """Frees a row no worker can reach (its scheduler data first); accepts NULL."""
    if sp == NULL:
        return
    if sp.ops != NULL:
        sp.ops.done(sp)
    free(sp)


cdef void _frontends_free(lb_frontends *fe) noexcept nogil:
    if fe == NULL:
        return
    free(fe.slots)
    free(fe)


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
    s.n_cnt = n_workers
    return s


cdef void _epstate_free(lb_epstate *s) noexcept nogil:
    free(s.cnt)
    free(s)
