# Scheduler options: the optional 6th element of a table row, a tuple of (key, value) pairs
# (a tuple so that rows stay hashable and are reused by equality), read into the row's
# lb_sched_opts with the GIL when the row is built. docs/internals.md lists them.
#
#   slow_start     seconds, 0..86400, every scheduler (sched_slowstart.pyx)
#   hash_port      True/False, sh and mh: hash the client's address and port
#   mh_table_size  a prime, larger than the row's endpoints, up to 1,048,573; mh

cdef dict _OPTIONS = {"slow_start": 0, "hash_port": LB_OPT_HASH_PORT,
                      "mh_table_size": LB_OPT_MH_TABLE_SIZE}


cdef bint _is_prime(long long n):
    cdef long long d = 3
    if n < 2 or n % 2 == 0:
        return n == 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


cdef str _schedulers_accepting(uint32_t bit):
    return ", ".join(_schedulers[i].name.decode() for i in range(_n_schedulers)
                     if _schedulers[i].options & bit)


cdef int _sched_opts_parse(object options, const lb_sched_ops *ops, int n_eps, str where,
                           lb_sched_opts *out) except -1:
    """Validates options (None or a sequence of (key, value)) for a row of scheduler ops with
    n_eps endpoints and fills out; ValueError naming the service port (where) otherwise."""
    cdef dict seen = {}
    memset(out, 0, sizeof(lb_sched_opts))
    if options is None:
        return 0
    if isinstance(options, (str, bytes, dict)):
        raise ValueError(f"{where}: options must be a tuple of (key, value) pairs: {options!r}")
    try:
        pairs = [(k, v) for k, v in options]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: options must be a tuple of (key, value) pairs: "
                         f"{options!r}") from None
    for key, value in pairs:
        if key not in _OPTIONS:
            raise ValueError(f"{where}: option {key!r} is not supported: supported: "
                             f"{', '.join(sorted(_OPTIONS))}")
        if key in seen:
            raise ValueError(f"{where}: option {key!r} is given twice")
        seen[key] = value
        bit = _OPTIONS[key]
        if bit and not ops.options & bit:
            raise ValueError(f"{where}: option {key!r} does not apply to scheduler "
                             f"{ops.name.decode()!r}: only to {_schedulers_accepting(bit)}")
        if key == "slow_start":
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value <= LB_MAX_SLOW_START_S:
                raise ValueError(f"{where}: option 'slow_start' must be 0..{LB_MAX_SLOW_START_S} "
                                 f"seconds: {value!r}")
            out.slow_start_ns = <uint64_t>(value * 1e9)
        elif key == "hash_port":
            if not isinstance(value, bool):
                raise ValueError(f"{where}: option 'hash_port' must be True or False: {value!r}")
            out.hash_port = value
        elif key == "mh_table_size":
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not n_eps < value <= LB_MH_MAX_SIZE or not _is_prime(value):
                raise ValueError(f"{where}: option 'mh_table_size' must be a prime larger than "
                                 f"the number of endpoints ({n_eps}), at most {LB_MH_MAX_SIZE}: "
                                 f"{value!r}")
            out.table_size = value
    return 0
