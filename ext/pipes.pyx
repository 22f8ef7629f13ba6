# Pipes for splice(2), HAProxy's way: a direction holds a pipe only while bytes sit in it and
# gives it back to its worker's pool as soon as it is empty, so idle connections hold none.
# Each worker may own at most max_pipes pipes (pooled + in use); past that, or when pipe2 fails
# (EMFILE), a direction falls back to a LB_COPY_BUF_SIZE recv/send buffer, also pooled.


cdef int _pipe_get(lb_worker *w, lb_half *h) noexcept nogil:
    """Gives h a pipe; -1 if none can be had (caller uses the copy path)."""
    cdef int fds[2]
    if w.n_pooled > 0:
        w.n_pooled -= 1
        h.pipe_r = w.pool[2 * w.n_pooled]
        h.pipe_w = w.pool[2 * w.n_pooled + 1]
        return 0
    if w.pipes_total >= w.max_pipes:
        return -1
    if pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0:
        w.pipe_failures += 1
        return -1
    if w.shared.pipe_size > 0:
        fcntl(fds[1], F_SETPIPE_SZ, w.shared.pipe_size)
    w.pipes_total += 1
    h.pipe_r = fds[0]
    h.pipe_w = fds[1]
    return 0


cdef void _pipe_put(lb_worker *w, lb_half *h) noexcept nogil:
    """Returns h's pipe: to the pool when empty, closed when bytes are stuck in it."""
    if h.pipe_r < 0:
        return
    if h.pending == 0 and w.n_pooled < w.max_pipes:
        w.pool[2 * w.n_pooled] = h.pipe_r
        w.pool[2 * w.n_pooled + 1] = h.pipe_w
        w.n_pooled += 1
    else:
        close(h.pipe_r)
        close(h.pipe_w)
        w.pipes_total -= 1
    h.pipe_r = -1
    h.pipe_w = -1


cdef int _buf_get(lb_worker *w, lb_half *h) noexcept nogil:
    if w.n_bufs > 0:
        w.n_bufs -= 1
        h.buf = w.bufs[w.n_bufs]
    else:
        h.buf = <char *>malloc(LB_COPY_BUF_SIZE)
        if h.buf == NULL:
            return -ENOMEM
    h.buf_off = 0
    return 0


cdef void _buf_put(lb_worker *w, lb_half *h) noexcept nogil:
    if h.buf == NULL:
        return
    if w.n_bufs < LB_MAX_IDLE_BUFS:
        w.bufs[w.n_bufs] = h.buf
        w.n_bufs += 1
    else:
        free(h.buf)
    h.buf = NULL


cdef void _pipes_close_all(lb_worker *w) noexcept nogil:
    cdef int i
    for i in range(w.n_pooled):
        close(w.pool[2 * i])
        close(w.pool[2 * i + 1])
    w.pipes_total -= w.n_pooled
    w.n_pooled = 0
    for i in range(w.n_bufs):
        free(w.bufs[i])
    w.n_bufs = 0
