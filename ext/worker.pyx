# The worker: one pthread per worker running an epoll loop entirely without the GIL.
#
# Top of each iteration: read the epoch, forget/re-arm paused listeners, load the published
# table and record the epoch as seen. Everything retired at or before that epoch (old tables,
# rows and frontend hashes, removed listeners) is no longer reachable from this worker, which
# is what lets Python free it.
# Then epoll_wait (timeout from the timer heap), handle the batch under the worker lock (each
# event goes to its descriptor's kind's callback: _ON_EVENT[h.kind]), fire due timers, continue connections
# that used up their budget, recycle freed structs.


cdef inline uint64_t _clock_ns(int clk) noexcept nogil:
    cdef timespec ts
    clock_gettime(clk, &ts)
    return <uint64_t>ts.tv_sec * NS_PER_SEC + <uint64_t>ts.tv_nsec


cdef int _wait_ms(lb_worker *w) noexcept nogil:
    cdef uint64_t until = w.now + LB_MAX_WAIT_MS * NS_PER_MS
    cdef int i
    if w.again_list != NULL:
        return 0
    if w.heap_len and w.heap[0].deadline < until:
        until = w.heap[0].deadline
    for i in range(w.n_pauses):
        if w.pauses[i].until < until:
            until = w.pauses[i].until
    if w.index == 0 and w.next_reap < until:
        until = w.next_reap
    if w.shared.stopping and w.shared.drain_deadline < until:
        until = w.shared.drain_deadline
    if until <= w.now:
        return 0
    return <int>((until - w.now + NS_PER_MS - 1) // NS_PER_MS)


cdef void _run_timers(lb_worker *w) noexcept nogil:
    cdef lb_conn *c
    cdef int n = 0
    while w.heap_len and w.heap[0].deadline <= w.now and n < LB_EVENTS_BATCH:
        c = w.heap[0]
        _timer_cancel(w, c)
        _on_timer(w, c)
        n += 1


cdef void _run_again(lb_worker *w) noexcept nogil:
    cdef lb_conn *c = w.again_list
    cdef lb_conn *nxt
    w.again_list = NULL
    while c != NULL:
        nxt = c.again_next
        c.again = 0
        if c.state != CS_FREE and c.state != CS_SYN_SENT:
            _pump(w, c)
        c = nxt


cdef void _reap_affinity(lb_worker *w) noexcept nogil:
    cdef lb_table *t = w.table
    cdef int i
    if t == NULL:
        return
    for i in range(t.n_rows):
        if t.rows[i].affinity_ns:
            _affinity_reap(&t.rows[i].state.aff, w.now, t.rows[i].affinity_ns)


cdef void _abort_all(lb_worker *w) noexcept nogil:
    cdef int i, j
    cdef lb_conn *c
    for i in range(w.n_chunks):
        for j in range(LB_SLAB_CHUNK):
            c = &w.chunks[i][j]
            if c.state != CS_FREE:
                _conn_close(w, c, 1)


cdef void _worker_loop(lb_worker *w) noexcept nogil:
    cdef lb_shared *s = w.shared
    cdef epoll_event events[LB_EVENTS_BATCH]
    cdef int n, i
    cdef uint64_t epoch
    cdef lb_handle *h
    w.now = _clock_ns(CLOCK_MONOTONIC)
    w.next_reap = w.now + LB_AFFINITY_REAP_MS * NS_PER_MS
    while True:
        epoch = lb_load_u64(&s.epoch)
        w.now = _clock_ns(CLOCK_MONOTONIC)
        if w.n_pauses:
            _listeners_resume(w, 0)
        w.table = lb_load_table(&s.current)
        lb_store_u64(&w.seen_epoch, epoch)
        if lb_load_int(&s.stopping):
            if w.n_conns == 0 or w.now >= s.drain_deadline:
                break
        n = epoll_wait(w.epfd, events, LB_EVENTS_BATCH, _wait_ms(w))
        w.now = _clock_ns(CLOCK_MONOTONIC)
        # a table applied while we slept serves this batch already; seen_epoch still protects
        # it (it was current after seen_epoch was stored), and listeners only change at the top
        w.table = lb_load_table(&s.current)
        pthread_mutex_lock(&w.lock)
        for i in range(n if n > 0 else 0):
            h = <lb_handle *>events[i].data.ptr
            _ON_EVENT[h.kind](w, h, events[i].events)
        _run_timers(w)
        _run_again(w)
        if w.index == 0 and w.now >= w.next_reap:
            _reap_affinity(w)
            w.next_reap = w.now + LB_AFFINITY_REAP_MS * NS_PER_MS
        _conn_recycle_dead(w)
        pthread_mutex_unlock(&w.lock)
    pthread_mutex_lock(&w.lock)
    _abort_all(w)
    _conn_recycle_dead(w)
    _pipes_close_all(w)
    pthread_mutex_unlock(&w.lock)


cdef void *_worker_main(void *arg) noexcept nogil:
    cdef lb_worker *w = <lb_worker *>arg
    _worker_loop(w)
    lb_store_u64(&w.seen_epoch, UINT64_MAX)
    return NULL


cdef void _on_wake(lb_worker *w, lb_handle *h, uint32_t events) noexcept nogil:
    """Drains the eventfd: the wake-up itself was the message (the loop top rereads state)."""
    cdef uint64_t v
    read(w.wakefd, &v, sizeof(v))


_ON_EVENT[LB_H_WAKE] = _on_wake


cdef void _worker_wake(lb_worker *w) noexcept nogil:
    cdef uint64_t one = 1
    write(w.wakefd, &one, sizeof(one))
