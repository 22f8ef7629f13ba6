# The scheduler registry: each sched_<name>.pyx registers its ops when the module loads, and
# apply finds a row's ops by the scheduler name in the table. Dispatch is sp.ops.pick(sp, ctx)
# at the call site; nothing else happens here.

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
