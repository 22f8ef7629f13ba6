# Scheduler: the test hook for every registered scheduler. One service port's row is built
# and rebuilt by the code Core uses (_Tables.compile for apply, _Tables.reweight for
# set_endpoint_state) and picked from as workers pick (_affinity_pick, _sched_pick), without
# workers or sockets; tests/test_sched_*.py compare its answers with lb/schedulers/.


cdef int _hook_ctx(lb_pick_ctx *ctx, object client_ip, uint16_t client_port, uint64_t now,
                   object failed_ep_id) except -1:
    """A pick context as forward.pyx's _pick makes one, for the test hooks; failed_ep_id: the
    endpoint whose connect just failed, or None."""
    memset(ctx, 0, sizeof(lb_pick_ctx))
    if _ip16_parse(client_ip, ctx.client_ip) < 0:
        raise ValueError(f"not an IP address: {client_ip!r}")
    ctx.client_port = client_port
    ctx.now = now
    ctx.failed_ep_id = -1
    if failed_ep_id is not None:
        ctx.failed = 1
        ctx.failed_ep_id = failed_ep_id
        ctx.avoid[0] = failed_ep_id
        ctx.n_avoid = 1
    return 0


cdef class Scheduler:
    """One service port's scheduler, driven through the core's own functions. Times are
    integer nanoseconds (CLOCK_MONOTONIC in the core); endpoints are (ep_id, ip, port, weight)
    as in a table row, options the row's 6th element."""
    cdef _Tables _tables
    cdef lb_table *_t
    cdef object _name
    cdef object _affinity
    cdef uint64_t _epoch

    def __cinit__(self, name, endpoints=(), options=(), affinity_timeout=0.0, now_ns=1):
        self._tables = _Tables(1)
        self._t = NULL
        self._name = name
        self._affinity = affinity_timeout
        self.apply(endpoints, options, now_ns)

    def __dealloc__(self):
        if self._tables is not None:
            for kind, ptr in self._tables.release():
                _free_retired(kind, ptr)
        _table_free(self._t)

    cdef void _install(self, lb_table *t):
        """Publishes t as Core._publish does; with no worker, what it replaces is freed now."""
        cdef lb_table *old = self._t
        self._t = t
        self._epoch += 1
        for kind, ptr in self._tables.commit(self._epoch):
            _free_retired(kind, ptr)
        _table_free(old)
        for kind, ptr in self._tables.unreachable_states(self._epoch):
            _free_retired(kind, ptr)

    def apply(self, endpoints, options=(), now_ns=1):
        """Builds the row from endpoints and options as Core.apply does (ops.update from the
        current row); ValueError as apply raises it."""
        row = (1, "test/hook:p/TCP", self._name, self._affinity,
               tuple(tuple(e) for e in endpoints))
        if options:
            row += (tuple(tuple(o) for o in options),)
        self._install(self._tables.compile({"service_ports": [row], "frontends": []},
                                           self._epoch + 1, now_ns))

    def set_endpoint_state(self, ep_id, weight, now_ns=1):
        """As Core.set_endpoint_state, at now_ns."""
        cdef lb_table *t = self._tables.reweight(ep_id, weight, self._epoch, now_ns)
        if t != NULL:
            self._install(t)

    def set_connections(self, ep_id, active, inactive):
        """Sets the endpoint's live counts (ActiveConn, InActConn), which lc and wlc read."""
        cdef lb_epstate *es = <lb_epstate *><uintptr_t>self._tables.epstates[ep_id]
        es.cnt[0].active = active
        es.cnt[0].live = active + inactive

    def pick(self, client_ip, client_port=0, now_ns=0, failed_ep_id=None):
        """ep_id for a new connection of client_ip:client_port at now_ns (failed_ep_id: a retry
        after that endpoint's connect failed); None when no endpoint is eligible."""
        cdef lb_pick_ctx ctx
        cdef lb_sp *sp = _sp_find(self._t, 1)
        cdef int i
        _hook_ctx(&ctx, client_ip, client_port, now_ns, failed_ep_id)
        i = _affinity_pick(sp, &ctx) if sp.affinity_ns else _sched_pick(sp, &ctx)
        return None if i < 0 else sp.eps[i].ep_id

    def slots(self, settled=False):
        """The ep_id in each slot of the row's lookup table (wrr's sequence, sh's buckets, mh's
        Maglev table), or of its settled slots (None when it has none); [] for schedulers
        without one or when no endpoint was eligible."""
        cdef lb_sp *sp = _sp_find(self._t, 1)
        cdef lb_slots *s = <lb_slots *>sp.sched_data
        if not sp.ops.flags & LB_SCHED_F_SLOTS or s == NULL:
            return []
        if settled:
            return None if s.settled == NULL else [sp.eps[s.settled[k]].ep_id for k in range(s.n)]
        return [sp.eps[s.slot[k]].ep_id for k in range(s.n)]

    def bench(self, int n, int clients=65536):
        """Nanoseconds per pick over n picks (GIL released), clients varying over the last
        two bytes of 10.x.y.z and their ports."""
        cdef lb_pick_ctx ctx
        cdef lb_sp *sp = _sp_find(self._t, 1)
        cdef uint64_t t0, t1
        cdef int k, sink = 0
        _hook_ctx(&ctx, "10.1.0.0", 0, 0, None)
        with nogil:
            t0 = _clock_ns(CLOCK_MONOTONIC)
            for k in range(n):
                ctx.client_ip[14] = <uint8_t>((k % clients) >> 8)
                ctx.client_ip[15] = <uint8_t>(k % clients)
                ctx.client_port = <uint16_t>(1024 + k)
                ctx.now = t0 + <uint64_t>k
                sink += _affinity_pick(sp, &ctx) if sp.affinity_ns else _sched_pick(sp, &ctx)
            t1 = _clock_ns(CLOCK_MONOTONIC)
        return (t1 - t0) / n if n else 0.0

    @property
    def rows_built(self):
        return self._tables.rows_built

    @property
    def rows_reweighted(self):
        return self._tables.rows_reweighted
