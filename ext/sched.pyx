# The scheduler registry and dispatcher: each sched_<name>.pyx registers its ops when the module
# loads, and apply finds a row's ops by the scheduler name in the table. Workers and affinity
# call _sched_pick, which calls the row's ops.pick and, for a row with slow start, lets
# sched_slowstart.pyx turn a ramping endpoint away; nothing algorithm-specific happens here.
# The two helpers below state the eligibility rules every pick shares.

cdef const lb_sched_ops *_schedulers[LB_MAX_SCHEDULERS]
cdef int _n_schedulers = 0


cdef int _sched_register(const lb_sched_ops *ops) except -1:
    """Adds ops to the registry (at module load); its name must be new."""
    global _n_schedulers
    if _n_schedulers == LB_MAX_SCHEDULERS or _sched_find(ops.name.decode()) != NULL:
        raise RuntimeError(f"scheduler registry: cannot register {ops.name.decode()!r}")
    _schedulers[_n_schedulers] = ops
    _n_schedulers += 1
    return 0


cdef const lb_sched_ops *_sched_find(str name):
    """The ops registered under name, NULL if none."""
    cdef bytes b = name.encode()
    cdef int i
    for i in range(_n_schedulers):
        if strcmp(_schedulers[i].name, b) == 0:
            return _schedulers[i]
    return NULL


cdef list _sched_names():
    """Registered names, in registration order."""
    return [_schedulers[i].name.decode() for i in range(_n_schedulers)]


def scheduler_names():
    """The scheduler names a table row may give, in registration order ("rr" first)."""
    return tuple(_sched_names())


cdef inline int _sched_pick(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil:
    """Index into sp.eps for a new connect attempt (ops.pick's contract), through slow start
    when the row has it; -1 when no endpoint is eligible."""
    cdef int i = sp.ops.pick(sp, ctx)
    if sp.opts.slow_start_ns == 0 or i < 0:
        return i
    return _slow_start_pick(sp, ctx, i)


cdef inline bint _avoided(const lb_pick_ctx *ctx, int64_t ep_id) noexcept nogil:
    cdef int k
    for k in range(ctx.n_avoid):
        if ctx.avoid[k] == ep_id:
            return True
    return False


cdef int _ep_index(const lb_sp *sp, int64_t ep_id) noexcept nogil:
    """The index of ep_id in sp.eps, -1 when it is not there (it left the row). O(n)."""
    cdef int i
    for i in range(sp.n_eps):
        if sp.eps[i].ep_id == ep_id:
            return i
    return -1


cdef inline bint _ep_pickable(const lb_sp *sp, const lb_pick_ctx *ctx, int i) noexcept nogil:
    """Whether sp.eps[i] is eligible and not in ctx.avoid."""
    return _ep_eligible(&sp.eps[i]) and (ctx.n_avoid == 0 or not _avoided(ctx, sp.eps[i].ep_id))


cdef int _sched_scan(const lb_sp *sp, const lb_pick_ctx *ctx, int start, uint64_t *cursor) noexcept nogil:
    """The first pickable endpoint at or after start (wrapping); when every eligible endpoint
    is avoided, the first of those. -1 when none is eligible (n_eps may be 0; start is taken
    modulo n_eps). cursor (rr's, or NULL): moved on by the endpoints skipped. O(n)."""
    cdef int i, k, fallback = -1, fallback_k = 0
    if sp.n_eps <= 0:
        return -1
    i = start % sp.n_eps
    for k in range(sp.n_eps):
        if _ep_eligible(&sp.eps[i]):
            if ctx.n_avoid == 0 or not _avoided(ctx, sp.eps[i].ep_id):
                fallback = i
                fallback_k = k
                break
            if fallback < 0:
                fallback = i
                fallback_k = k
        i += 1
        if i == sp.n_eps:
            i = 0
    if cursor != NULL and fallback_k:
        lb_fetch_add_u64(cursor, <uint64_t>fallback_k)
    return fallback
