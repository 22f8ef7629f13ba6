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
    mutated behind our back must never be reused."""
    if type(item) is not tuple or type(item[4]) is not tuple:
        return None
    for ep in item[4]:
        if type(ep) is not tuple:
            return None
    return item


cdef lb_sp *_row_build(object item, int64_t sp_id, object name) except NULL:
    """A new row from a service_ports entry of 5 items (sp_id and name already read from it).
    Validates the scheduler, affinity and endpoints; attaches no state and builds no scheduler
    data, which wait until the whole table is valid. Release with _row_free."""
    cdef const lb_sched_ops *ops
    cdef lb_sp *sp
    cdef lb_endpoint *e
    cdef int j, n
    _, _, scheduler, affinity_timeout, endpoints = item
    scheduler = scheduler or "rr"
    ops = _sched_find(scheduler) if isinstance(scheduler, str) else NULL
    if ops == NULL:
        raise ValueError(f"apply: service port {name} (sp_id {sp_id}): scheduler {scheduler!r} "
                         f"is not supported: supported: {', '.join(_sched_names())}")
    affinity_timeout = float(affinity_timeout or 0)
    if affinity_timeout < 0:
        raise ValueError(f"apply: service port {name} (sp_id {sp_id}): affinity_timeout "
                         f"must be >= 0: {affinity_timeout}")
    eps = list(endpoints)
    n = len(eps)
    sp = <lb_sp *>calloc(1, sizeof(lb_sp) + n * sizeof(lb_endpoint))
    if sp == NULL:
        raise MemoryError()
    try:
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


cdef void _table_store_weights(lb_table *t) noexcept nogil:
    """Sets every endpoint's effective weight to its row's: after apply, the table decides."""
    cdef int i, j
    cdef lb_sp *sp
    for i in range(t.n_rows):
        sp = t.rows[i]
        for j in range(sp.n_eps):
            lb_store_int(&sp.eps[j].state.weight, sp.eps[j].weight)


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
    cdef uint64_t rows_built
    cdef uint64_t fe_built
    # compiled, not yet committed
    cdef dict next_rows
    cdef list next_built
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

    cdef lb_table *compile(self, object table, uint64_t generation) except NULL:
        """The next table, reusing unchanged rows and frontends. Raises TypeError/ValueError
        for bad input, MemoryError, leaving everything as it was. The caller publishes the
        table and then calls commit()."""
        cdef dict rows = {}
        cdef list built = []
        cdef list created = []      # states made for this table: [(RETIRED_*, id)]
        cdef lb_frontends *fe = NULL
        cdef lb_table *t = NULL
        if not isinstance(table, dict):
            raise TypeError(f"apply: table must be a dict, not {type(table).__name__}")
        try:
            for item in table.get("service_ports", ()):
                try:
                    sp_id, name, _, _, _ = item
                except (TypeError, ValueError):
                    raise ValueError(f"apply: service_ports entry must be (sp_id, name, scheduler, "
                                     f"affinity_timeout, endpoints): {item!r}") from None
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
                self._attach(<lb_sp *><uintptr_t>p, created)
            t = _table_new(generation, rows, fe)
        except BaseException:
            for p in built:
                _row_free(<lb_sp *><uintptr_t>p)
            if fe != self.fe:
                _frontends_free(fe)
            for kind, x in created:
                registry = self.spstates if kind == RETIRED_SPSTATE else self.epstates
                _free_retired(kind, registry.pop(x))
            raise
        _table_store_weights(t)
        self.next_rows = rows
        self.next_built = built
        self.next_fe = fe
        self.next_fe_key = fe_key
        return t

    cdef int _attach(self, lb_sp *sp, list created) except -1:
        """Points a built row at its sp/ep states (creating missing ones, recorded in created)
        and builds its scheduler data: ops.update when the published row has the same ops."""
        cdef lb_spstate *ss
        cdef lb_epstate *es
        cdef lb_sp *old = NULL
        cdef int j, r
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
            sp.eps[j].state = es
        prev = self.rows.get(sp.sp_id)
        if prev is not None:
            old = <lb_sp *><uintptr_t>prev[1]
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
        for sid, prev in self.rows.items():
            cur = rows.get(sid)
            if cur is not None and cur[1] == prev[1]:
                continue
            retire.append((RETIRED_ROW, prev[1]))
            self._unref_eps(<lb_sp *><uintptr_t>prev[1], epoch)
            if cur is None:
                self.sp_gone[sid] = epoch
        for p in self.next_built:
            self.sp_gone.pop((<lb_sp *><uintptr_t>p).sp_id, None)
            self._ref_eps(<lb_sp *><uintptr_t>p)
        self.rows_built += len(self.next_built)
        if self.next_fe != self.fe:
            if self.fe != NULL:
                retire.append((RETIRED_FRONTENDS, <uintptr_t>self.fe))
            self.fe = self.next_fe
            self.fe_built += 1
        self.fe_key = self.next_fe_key
        self.rows = rows
        self.next_rows = None
        self.next_built = None
        self.next_fe = NULL
        self.next_fe_key = None
        return retire

    cdef void _ref_eps(self, lb_sp *sp):
        cdef int j
        for j in range(sp.n_eps):
            eid = sp.eps[j].ep_id
            n = self.ep_refs.get(eid, 0)
            if n == 0:
                self.ep_gone.pop(eid, None)
            self.ep_refs[eid] = n + 1

    cdef void _unref_eps(self, lb_sp *sp, uint64_t epoch):
        cdef int j
        for j in range(sp.n_eps):
            eid = sp.eps[j].ep_id
            n = self.ep_refs[eid] - 1
            if n:
                self.ep_refs[eid] = n
            else:
                del self.ep_refs[eid]
                self.ep_gone[eid] = epoch

    cdef int set_weight(self, int64_t ep_id, int weight) except -1:
        """Stores ep_id's effective weight; KeyError when no published row holds ep_id."""
        if ep_id not in self.ep_refs:
            raise KeyError(f"set_endpoint_state: no endpoint with ep_id {ep_id} in the table")
        lb_store_int(&(<lb_epstate *><uintptr_t>self.epstates[ep_id]).weight, weight)
        return 0

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
