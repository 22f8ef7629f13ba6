# Compiling the plain-data table (docs/internals.md) into C, with the GIL, and remembering
# what built the published one.
#
# apply is incremental. A row (one service port) is rebuilt only when its tuple differs from
# the tuple that built the published row (is, then ==); otherwise the published C row is
# reused as it is. The frontend hash is rebuilt only when the frontends list differs. What a
# new table no longer holds (rows, a frontend hash, sp_ids, ep_ids) goes back to Core, which
# retires it with the epoch. An apply that changes one service port among 10,000 builds one
# row; the rest is the O(n) compare loop and two O(n) pointer arrays.


cdef int _weight_of(object weight) except -1:
    """A table (or test hook) weight as picks read it: None means 1, below 0 is 0, and values
    past a C int are capped."""
    if weight is None:
        return 1
    w = int(weight)
    return 0 if w < 0 else (LB_MAX_WEIGHT if w > LB_MAX_WEIGHT else w)


cdef object _row_key(object item):
    """item when it is tuples all the way down to the scalars, else None: a row that could be
    mutated behind our back must never be reused. An endpoint may be a tuple subclass (the
    plan's RealServer, a named tuple): its items cannot change either."""
    if type(item) is not tuple or type(item[4]) is not tuple:
        return None
    for ep in item[4]:
        if not isinstance(ep, tuple):
            return None
    if len(item) > 5 and item[5] is not None:
        if type(item[5]) is not tuple:
            return None
        for opt in item[5]:
            if type(opt) is not tuple:
                return None
    return item


cdef lb_sp *_row_build(object item, int64_t sp_id, object name) except NULL:
    """A new row from a service_ports entry of 5 or 6 items (sp_id and name already read from
    it). Validates the scheduler, affinity, endpoints and options; attaches no state and builds
    no scheduler data, which wait until the whole table is valid. Release with _row_free."""
    cdef const lb_sched_ops *ops
    cdef lb_sp *sp
    cdef lb_endpoint *e
    cdef int j, n
    cdef str where = f"apply: service port {name} (sp_id {sp_id})"
    _, _, scheduler, affinity_timeout, endpoints = item[:5]
    scheduler = scheduler or "rr"
    ops = _sched_find(scheduler) if isinstance(scheduler, str) else NULL
    if ops == NULL:
        raise ValueError(f"{where}: scheduler {scheduler!r} "
                         f"is not supported: supported: {', '.join(_sched_names())}")
    affinity_timeout = float(affinity_timeout or 0)
    if affinity_timeout < 0:
        raise ValueError(f"{where}: affinity_timeout must be >= 0: {affinity_timeout}")
    eps = list(endpoints)
    n = len(eps)
    if ops.flags & LB_SCHED_F_SLOTS and n > LB_SLOTS_MAX_EPS:
        raise ValueError(f"{where}: scheduler {scheduler!r} takes at most {LB_SLOTS_MAX_EPS} "
                         f"endpoints: {n}")
    sp = <lb_sp *>calloc(1, sizeof(lb_sp) + n * sizeof(lb_endpoint))
    if sp == NULL:
        raise MemoryError()
    try:
        _sched_opts_parse(item[5] if len(item) > 5 else None, ops, n, where, &sp.opts)
        sp.sp_id = sp_id
        sp.ops = ops
        sp.affinity_ns = <uint64_t>(affinity_timeout * 1e9)
        sp.eps = <lb_endpoint *>(sp + 1)
        for j in range(n):
            try:
                ep_id, ip, port, weight = eps[j]
            except (TypeError, ValueError):
                raise ValueError(f"apply: service port {name} (sp_id {sp_id}): endpoint must be "
                                 f"(ep_id, ip, port, weight): {eps[j]!r}") from None
            e = &sp.eps[j]
            e.ep_id = int(ep_id)
            e.weight = _weight_of(weight)
            e.sched_weight = e.weight
            _addr_parse(ip, port, &e.addr)
        sp.n_eps = n
    except BaseException:
        free(sp)
        raise
    return sp


cdef lb_frontends *_frontends_build(list frontends) except NULL:
    """The frontend hash of a frontends list; ValueError on a malformed entry."""
    cdef lb_frontends *fe = <lb_frontends *>calloc(1, sizeof(lb_frontends))
    cdef uint32_t cap = LB_MIN_HASH_CAP
    cdef lb_fekey k
    cdef lb_feslot *slot
    cdef uint8_t ip16[16]
    cdef int64_t sid
    if fe == NULL:
        raise MemoryError()
    while cap < <uint32_t>(len(frontends) * 8 + 8):     # up to 2 keys each, load <= 1/4
        cap <<= 1
    fe.cap = cap
    fe.slots = <lb_feslot *>calloc(cap, sizeof(lb_feslot))
    try:
        if fe.slots == NULL:
            raise MemoryError()
        for item in frontends:
            try:
                lid, local_ip, local_port, sp_id = item
            except (TypeError, ValueError):
                raise ValueError(f"apply: frontends entry must be (listener_id, local_ip, "
                                 f"local_port, sp_id): {item!r}") from None
            sid = int(sp_id)
            local_port = int(local_port or 0)
            # FE_LISTENER: the first entry of a listener serves non-wildcard lookups
            _fekey_set(&k, lid, NULL, 0, FE_LISTENER)
            slot = _fe_slot(fe, &k)
            if not slot.used:
                slot.key = k
                slot.used = 1
                slot.sp_id = sid
            if local_ip:
                if _ip16_parse(local_ip, ip16) < 0:
                    raise ValueError(f"apply: frontend {item!r}: not an IP address: {local_ip!r}")
                _fekey_set(&k, lid, ip16, local_port, FE_ADDR_PORT)
            elif local_port:
                _fekey_set(&k, lid, NULL, local_port, FE_PORT)
            else:
                _fekey_set(&k, lid, NULL, 0, FE_ANY)
            slot = _fe_slot(fe, &k)
            if not slot.used:
                slot.key = k
                slot.used = 1
                slot.sp_id = sid
    except BaseException:
        _frontends_free(fe)
        raise
    return fe


cdef lb_table *_table_new(uint64_t generation, dict rows, lb_frontends *fe) except NULL:
    """A table over rows (sp_id -> (key, row)) and fe, which it does not own."""
    cdef Py_ssize_t n = len(rows)
    cdef uint32_t cap = _hash_cap(n), i
    cdef lb_table *t = <lb_table *>calloc(1, sizeof(lb_table))
    cdef lb_sp *sp
    cdef int k = 0
    if t == NULL:
        raise MemoryError()
    t.rows = <lb_sp **>calloc(n if n else 1, sizeof(lb_sp *))
    t.sp_slots = <lb_spslot *>calloc(cap, sizeof(lb_spslot))
    if t.rows == NULL or t.sp_slots == NULL:
        _table_free(t)
        raise MemoryError()
    t.generation = generation
    t.sp_mask = cap - 1
    t.fe = fe
    for _, p in rows.values():
        sp = <lb_sp *><uintptr_t>p
        t.rows[k] = sp
        k += 1
        i = _sp_hash(sp.sp_id) & t.sp_mask
        while t.sp_slots[i].row != NULL:
            i = (i + 1) & t.sp_mask
        t.sp_slots[i].sp_id = sp.sp_id
        t.sp_slots[i].row = sp
    t.n_rows = k
    return t


cdef void _ep_store_weight(lb_epstate *st, int weight, uint64_t now) noexcept nogil:
    """Sets st's effective weight; one going from <= 0 to > 0 starts its slow start at now
    (since is stored first: a worker that sees the weight sees the ramp)."""
    if weight > 0 and lb_load_int(&st.weight) <= 0:
        lb_store_u64(&st.since, now if now else 1)
    lb_store_int(&st.weight, weight)


cdef void _table_store_weights(lb_table *t, uint64_t now) noexcept nogil:
    """Sets every endpoint's effective weight to its row's: after apply, the table decides."""
    cdef int i, j
    cdef lb_sp *sp
    for i in range(t.n_rows):
        sp = t.rows[i]
        for j in range(sp.n_eps):
            _ep_store_weight(sp.eps[j].state, sp.eps[j].weight, now)


cdef bint _row_stale(const lb_sp *sp, bint live) noexcept nogil:
    """Whether sp's scheduler data was built from other weights than the effective ones (live)
    or the row's own (not live); always False for schedulers that read weights at pick time."""
    cdef int j, w
    if not sp.ops.flags & LB_SCHED_F_WEIGHTS:
        return False
    for j in range(sp.n_eps):
        w = lb_load_int(&sp.eps[j].state.weight) if live else sp.eps[j].weight
        if (w if w > 0 else 0) != sp.eps[j].sched_weight:
            return True
    return False


cdef lb_sp *_row_rebuilt(lb_sp *old, bint live, uint64_t now) except NULL:
    """A copy of the published row old (same endpoints, states and options) whose scheduler
    data is built at now (ops.update from old) from the effective weights (live) or the row's
    own."""
    cdef size_t size = sizeof(lb_sp) + old.n_eps * sizeof(lb_endpoint)
    cdef lb_sp *sp = <lb_sp *>malloc(size)
    cdef int j, w, r
    if sp == NULL:
        raise MemoryError()
    memcpy(sp, old, size)
    sp.eps = <lb_endpoint *>(sp + 1)
    sp.sched_data = NULL
    sp.built_ns = now
    for j in range(sp.n_eps):
        w = lb_load_int(&sp.eps[j].state.weight) if live else sp.eps[j].weight
        sp.eps[j].sched_weight = w if w > 0 else 0
    r = sp.ops.update(sp, old)
    if r < 0:
        _row_free(sp)
        raise MemoryError() if r == -ENOMEM else _os_error(-r, f"scheduler {old.ops.name.decode()}")
    return sp


cdef lb_sp *_row_scratch(object ep_ids, object weights, lb_spstate *state) except NULL:
    """A row for the scheduler test hooks: ep_ids with weights (None: all 1) and their states in
    one block, no addresses or counters, rr as scheduler, state as given. Release with free()."""
    cdef list ids = list(ep_ids)
    cdef int n = len(ids), i
    cdef lb_sp *sp
    cdef lb_epstate *states
    if weights is not None and len(weights) != n:
        raise ValueError(f"weights: one per endpoint ({n}): {weights!r}")
    sp = <lb_sp *>calloc(1, sizeof(lb_sp) + n * (sizeof(lb_endpoint) + sizeof(lb_epstate)))
    if sp == NULL:
        raise MemoryError()
    try:
        sp.eps = <lb_endpoint *>(sp + 1)
        states = <lb_epstate *>(sp.eps + n)
        for i in range(n):
            sp.eps[i].ep_id = ids[i]
            sp.eps[i].state = &states[i]
            states[i].ep_id = ids[i]
            states[i].weight = 1 if weights is None else _weight_of(weights[i])
            sp.eps[i].weight = states[i].weight
            sp.eps[i].sched_weight = states[i].weight
    except BaseException:
        free(sp)
        raise
    sp.n_eps = n
    sp.ops = &SCHED_RR
    sp.state = state
    return sp


cdef class _Tables:
    """The GIL side of the published table: the tuples that built its rows, its frontend hash,
    the registries of per-sp / per-ep state, and when ids left the table. Core owns one."""
    cdef int n_workers
    cdef dict rows              # sp_id -> (key, <uintptr_t>lb_sp *): the published table's rows
    cdef object fe_key          # the frontends that built fe (a tuple); None: never share fe
    cdef lb_frontends *fe       # the published table's frontend hash
    cdef dict spstates          # sp_id -> <uintptr_t>lb_spstate *
    cdef dict epstates          # ep_id -> <uintptr_t>lb_epstate *
    cdef dict ep_refs           # ep_id -> how many published rows hold it
    cdef dict sp_gone           # sp_id -> epoch at which it left the published table
    cdef dict ep_gone
    cdef dict ep_weighted       # ep_id -> {sp_id: count}: the LB_SCHED_F_WEIGHTS rows holding it
    cdef set live_rows          # sp_ids whose row set_endpoint_state rebuilt from effective weights
    cdef uint64_t rows_built
    cdef uint64_t rows_reweighted
    cdef uint64_t fe_built
    # compiled, not yet committed
    cdef dict next_rows
    cdef list next_built
    cdef list next_rebuilt      # rows copied with new scheduler data (_row_rebuilt)
    cdef bint next_live         # ... from the effective weights (set_endpoint_state)
    cdef lb_frontends *next_fe
    cdef object next_fe_key

    def __cinit__(self, int n_workers):
        self.n_workers = n_workers
        self.rows = {}
        self.spstates = {}
        self.epstates = {}
        self.ep_refs = {}
        self.sp_gone = {}
        self.ep_gone = {}
        self.ep_weighted = {}
        self.live_rows = set()

    cdef lb_table *compile(self, object table, uint64_t generation, uint64_t now) except NULL:
        """The next table, reusing unchanged rows and frontends. Raises TypeError/ValueError
        for bad input, MemoryError, leaving everything as it was. The caller publishes the
        table and then calls commit(). now: CLOCK_MONOTONIC ns, when slow starts begin."""
        cdef dict rows = {}
        cdef list built = []
        cdef list rebuilt = []
        cdef list created = []      # states made for this table: [(RETIRED_*, id)]
        cdef lb_frontends *fe = NULL
        cdef lb_table *t = NULL
        if not isinstance(table, dict):
            raise TypeError(f"apply: table must be a dict, not {type(table).__name__}")
        try:
            for item in table.get("service_ports", ()):
                try:
                    if len(item) not in (5, 6):
                        raise ValueError
                    sp_id, name = item[0], item[1]
                except (TypeError, ValueError):
                    raise ValueError(f"apply: service_ports entry must be (sp_id, name, scheduler, "
                                     f"affinity_timeout, endpoints[, options]): {item!r}") from None
                sid = int(sp_id)        # the same object when sp_id is an int: no allocation
                if sid in rows:
                    raise ValueError(f"apply: sp_id {sid} ({name}) appears twice")
                prev = self.rows.get(sid)
                if prev is not None and prev[0] is not None and (prev[0] is item or prev[0] == item):
                    # equal to an all-tuple key, so all tuples too: keep the newer for `is`
                    rows[sid] = prev if prev[0] is item else (item, prev[1])
                else:
                    p = <uintptr_t>_row_build(item, sid, name)
                    built.append(p)
                    rows[sid] = (_row_key(item), p)
            frontends = list(table.get("frontends", ()))
            fe_key = tuple(frontends) if all(type(x) is tuple for x in frontends) else None
            if self.fe != NULL and fe_key is not None and fe_key == self.fe_key:
                fe = self.fe
            else:
                fe = _frontends_build(frontends)
            # the input is valid: from here on only resources can fail (memory, a scheduler's init)
            for p in built:
                self._attach(<lb_sp *><uintptr_t>p, created, now)
            # a reused row whose scheduler data set_endpoint_state rebuilt from other weights
            # gets data from the row's weights again: they are the effective ones after apply
            for sid in self.live_rows:
                cur = rows.get(sid)
                if cur is not None and cur[1] == self.rows[sid][1] \
                        and _row_stale(<lb_sp *><uintptr_t>cur[1], False):
                    q = <uintptr_t>_row_rebuilt(<lb_sp *><uintptr_t>cur[1], False, now)
                    rebuilt.append(q)
                    rows[sid] = (cur[0], q)
            t = _table_new(generation, rows, fe)
        except BaseException:
            for p in built + rebuilt:
                _row_free(<lb_sp *><uintptr_t>p)
            if fe != self.fe:
                _frontends_free(fe)
            for kind, x in created:
                registry = self.spstates if kind == RETIRED_SPSTATE else self.epstates
                _free_retired(kind, registry.pop(x))
            raise
        _table_store_weights(t, now)
        self.next_rows = rows
        self.next_built = built
        self.next_rebuilt = rebuilt
        self.next_live = False
        self.next_fe = fe
        self.next_fe_key = fe_key
        return t

    cdef int _attach(self, lb_sp *sp, list created, uint64_t now) except -1:
        """Points a built row at its sp/ep states (creating missing ones, recorded in created)
        and builds its scheduler data: ops.update when the published row has the same ops.
        An endpoint joining a service port that has a row already starts its slow start."""
        cdef lb_spstate *ss
        cdef lb_epstate *es
        cdef lb_sp *old = NULL
        cdef int j, r
        cdef bint serving = sp.sp_id in self.rows
        p = self.spstates.get(sp.sp_id)
        if p is None:
            ss = _spstate_new(sp.sp_id, self.n_workers)
            if ss == NULL:
                raise MemoryError()
            self.spstates[sp.sp_id] = <uintptr_t>ss
            created.append((RETIRED_SPSTATE, sp.sp_id))
        else:
            ss = <lb_spstate *><uintptr_t>p
        sp.state = ss
        for j in range(sp.n_eps):
            p = self.epstates.get(sp.eps[j].ep_id)
            if p is None:
                es = _epstate_new(sp.eps[j].ep_id, self.n_workers)
                if es == NULL:
                    raise MemoryError()
                es.weight = sp.eps[j].weight
                self.epstates[sp.eps[j].ep_id] = <uintptr_t>es
                created.append((RETIRED_EPSTATE, sp.eps[j].ep_id))
            else:
                es = <lb_epstate *><uintptr_t>p
            if serving and sp.eps[j].ep_id not in self.ep_refs:
                lb_store_u64(&es.since, now if now else 1)    # no published row reads es
            sp.eps[j].state = es
        prev = self.rows.get(sp.sp_id)
        if prev is not None:
            old = <lb_sp *><uintptr_t>prev[1]
        sp.built_ns = now
        r = sp.ops.update(sp, old) if old != NULL and old.ops == sp.ops else sp.ops.init(sp)
        if r == -ENOMEM:
            raise MemoryError()
        if r < 0:
            raise _os_error(-r, f"apply: scheduler {sp.ops.name.decode()}")
        return 0

    cdef list commit(self, uint64_t epoch):
        """Bookkeeping once the compiled table is published at epoch: returns [(RETIRED_*,
        ptr)] for what the previous table held and this one does not (rows, the frontend hash)
        and records which sp_ids / ep_ids left the table or came back."""
        cdef list retire = []
        cdef dict rows = self.next_rows
        cdef lb_sp *sp
        for sid, prev in self.rows.items():
            cur = rows.get(sid)
            if cur is not None and cur[1] == prev[1]:
                continue
            retire.append((RETIRED_ROW, prev[1]))
            self._unref_eps(<lb_sp *><uintptr_t>prev[1], epoch)
            self.live_rows.discard(sid)
            if cur is None:
                self.sp_gone[sid] = epoch
        for p in self.next_built + self.next_rebuilt:
            sp = <lb_sp *><uintptr_t>p
            self.sp_gone.pop(sp.sp_id, None)
            self._ref_eps(sp)
            if self.next_live:
                self.live_rows.add(sp.sp_id)
        self.rows_built += len(self.next_built)
        self.rows_reweighted += len(self.next_rebuilt)
        if self.next_fe != self.fe:
            if self.fe != NULL:
                retire.append((RETIRED_FRONTENDS, <uintptr_t>self.fe))
            self.fe = self.next_fe
            self.fe_built += 1
        self.fe_key = self.next_fe_key
        self.rows = rows
        self.next_rows = None
        self.next_built = None
        self.next_rebuilt = None
        self.next_fe = NULL
        self.next_fe_key = None
        return retire

    cdef void _ref_eps(self, lb_sp *sp):
        cdef int j
        cdef bint weighted = sp.ops.flags & LB_SCHED_F_WEIGHTS
        for j in range(sp.n_eps):
            eid = sp.eps[j].ep_id
            n = self.ep_refs.get(eid, 0)
            if n == 0:
                self.ep_gone.pop(eid, None)
            self.ep_refs[eid] = n + 1
            if weighted:
                rows = self.ep_weighted.setdefault(eid, {})
                rows[sp.sp_id] = rows.get(sp.sp_id, 0) + 1

    cdef void _unref_eps(self, lb_sp *sp, uint64_t epoch):
        cdef int j
        cdef bint weighted = sp.ops.flags & LB_SCHED_F_WEIGHTS
        for j in range(sp.n_eps):
            eid = sp.eps[j].ep_id
            n = self.ep_refs[eid] - 1
            if n:
                self.ep_refs[eid] = n
            else:
                del self.ep_refs[eid]
                self.ep_gone[eid] = epoch
            if weighted:
                rows = self.ep_weighted[eid]
                rows[sp.sp_id] -= 1
                if not rows[sp.sp_id]:
                    del rows[sp.sp_id]
                    if not rows:
                        del self.ep_weighted[eid]

    cdef lb_table *reweight(self, int64_t ep_id, int weight, uint64_t generation, uint64_t now) except *:
        """Stores ep_id's effective weight (starting its slow start when it goes from 0 to
        > 0); KeyError when no published row holds ep_id. Returns NULL when that is all, or the
        next table (same generation, commit() follows publication) whose rows that hold ep_id
        and build scheduler data from weights (LB_SCHED_F_WEIGHTS) are rebuilt from the
        effective weights; the other rows, the frontend hash and the published table stay."""
        cdef lb_table *t
        cdef list rebuilt = []
        if ep_id not in self.ep_refs:
            raise KeyError(f"set_endpoint_state: no endpoint with ep_id {ep_id} in the table")
        _ep_store_weight(<lb_epstate *><uintptr_t>self.epstates[ep_id], weight, now)
        stale = [sid for sid in self.ep_weighted.get(ep_id, ())
                 if _row_stale(<lb_sp *><uintptr_t>self.rows[sid][1], True)]
        if not stale:
            return NULL         # rr, lc, wlc rows: the stored weight is all
        rows = dict(self.rows)
        try:
            for sid in stale:
                key, p = rows[sid]
                q = <uintptr_t>_row_rebuilt(<lb_sp *><uintptr_t>p, True, now)
                rebuilt.append(q)
                rows[sid] = (key, q)
            t = _table_new(generation, rows, self.fe)
        except BaseException:
            for p in rebuilt:
                _row_free(<lb_sp *><uintptr_t>p)
            raise
        self.next_rows = rows
        self.next_built = []
        self.next_rebuilt = rebuilt
        self.next_live = True
        self.next_fe = self.fe
        self.next_fe_key = self.fe_key
        return t

    cdef list unreachable_states(self, uint64_t seen):
        """Takes out of the registries the states that left the table at or before epoch seen
        and that no connection holds; returns them as [(RETIRED_*, ptr)] to free."""
        cdef list out = []
        for sid, epoch in list(self.sp_gone.items()):
            p = self.spstates[sid]
            if epoch <= seen and _sp_live(<lb_spstate *><uintptr_t>p, self.n_workers) == 0:
                del self.sp_gone[sid]
                del self.spstates[sid]
                out.append((RETIRED_SPSTATE, p))
        for eid, epoch in list(self.ep_gone.items()):
            p = self.epstates[eid]
            if epoch <= seen and _ep_live(<lb_epstate *><uintptr_t>p, self.n_workers) == 0:
                del self.ep_gone[eid]
                del self.epstates[eid]
                out.append((RETIRED_EPSTATE, p))
        return out

    cdef list release(self):
        """Everything still held (published rows, frontend hash, every state) as [(RETIRED_*,
        ptr)], for Core.__dealloc__ once no worker runs; the registries are emptied."""
        cdef list out = [(RETIRED_ROW, p) for _, p in self.rows.values()]
        if self.fe != NULL:
            out.append((RETIRED_FRONTENDS, <uintptr_t>self.fe))
        out += [(RETIRED_SPSTATE, p) for p in self.spstates.values()]
        out += [(RETIRED_EPSTATE, p) for p in self.epstates.values()]
        self.rows = {}
        self.fe = NULL
        self.spstates = {}
        self.epstates = {}
        return out
