# Timers: one binary min-heap per worker of connections ordered by deadline (CLOCK_MONOTONIC ns),
# intrusive (lb_conn.heap_idx) so a connection is moved or removed in O(log n). A connection
# has one deadline: its connect timeout while SYN_SENT, else last activity + idle timeout,
# re-armed lazily when it fires (activity only writes last_ns, never touches the heap).


cdef inline void _heap_set(lb_worker *w, int i, lb_conn *c) noexcept nogil:
    w.heap[i] = c
    c.heap_idx = i


cdef void _heap_up(lb_worker *w, int i) noexcept nogil:
    cdef lb_conn *c = w.heap[i]
    cdef int p
    while i > 0:
        p = (i - 1) >> 1
        if w.heap[p].deadline <= c.deadline:
            break
        _heap_set(w, i, w.heap[p])
        i = p
    _heap_set(w, i, c)


cdef void _heap_down(lb_worker *w, int i) noexcept nogil:
    cdef lb_conn *c = w.heap[i]
    cdef int l, m
    while True:
        l = 2 * i + 1
        if l >= w.heap_len:
            break
        m = l
        if l + 1 < w.heap_len and w.heap[l + 1].deadline < w.heap[l].deadline:
            m = l + 1
        if w.heap[m].deadline >= c.deadline:
            break
        _heap_set(w, i, w.heap[m])
        i = m
    _heap_set(w, i, c)


cdef int _timer_set(lb_worker *w, lb_conn *c, uint64_t deadline) noexcept nogil:
    """Arms or moves c's timer; -ENOMEM if the heap cannot grow."""
    cdef lb_conn **h
    cdef uint64_t old = c.deadline
    c.deadline = deadline
    if c.heap_idx >= 0:
        if deadline < old:
            _heap_up(w, c.heap_idx)
        else:
            _heap_down(w, c.heap_idx)
        return 0
    if w.heap_len == w.heap_cap:
        h = <lb_conn **>realloc(w.heap, (w.heap_cap * 2 + 64) * sizeof(lb_conn *))
        if h == NULL:
            return -ENOMEM
        w.heap = h
        w.heap_cap = w.heap_cap * 2 + 64
    w.heap_len += 1
    _heap_set(w, w.heap_len - 1, c)
    _heap_up(w, w.heap_len - 1)
    return 0


cdef void _timer_cancel(lb_worker *w, lb_conn *c) noexcept nogil:
    cdef int i = c.heap_idx
    cdef lb_conn *last
    if i < 0:
        return
    c.heap_idx = -1
    w.heap_len -= 1
    if i == w.heap_len:
        return
    last = w.heap[w.heap_len]
    _heap_set(w, i, last)
    _heap_up(w, i)
    _heap_down(w, last.heap_idx)
