# Counters are written by one worker each, without atomics; these functions sum the slots
# when Python asks. A read may miss the last few increments of a running worker, never more.


cdef dict _sp_stats(lb_spstate *s, int n_workers):
    cdef uint64_t conns = 0, bin = 0, bout = 0, fails = 0, retries = 0, resets = 0
    cdef int i
    for i in range(n_workers):
        conns += s.cnt[i].connections
        bin += s.cnt[i].bytes_in
        bout += s.cnt[i].bytes_out
        fails += s.cnt[i].connect_failures
        retries += s.cnt[i].retries
        resets += s.cnt[i].no_endpoint_resets
    return {"connections": conns, "bytes_in": bin, "bytes_out": bout,
            "connect_failures": fails, "retries": retries, "no_endpoint_resets": resets}


cdef dict _ep_stats(lb_epstate *s, int n_workers):
    cdef int64_t live = 0, active = 0
    cdef uint64_t conns = 0, bin = 0, bout = 0, fails = 0
    cdef int i
    for i in range(n_workers):
        live += lb_load_i64(&s.cnt[i].live)
        active += s.cnt[i].active
        conns += s.cnt[i].connections
        bin += s.cnt[i].bytes_in
        bout += s.cnt[i].bytes_out
        fails += s.cnt[i].connect_failures
    if active < 0:
        active = 0
    return {"active": active, "inactive": max(live - active, 0), "connections": conns,
            "bytes_in": bin, "bytes_out": bout, "connect_failures": fails}


cdef int64_t _sp_live(lb_spstate *s, int n_workers) noexcept nogil:
    cdef int64_t live = 0
    cdef int i
    for i in range(n_workers):
        live += lb_load_i64(&s.cnt[i].live)
    return live


cdef int64_t _ep_live(lb_epstate *s, int n_workers) noexcept nogil:
    cdef int64_t live = 0
    cdef int i
    for i in range(n_workers):
        live += lb_load_i64(&s.cnt[i].live)
    return live
