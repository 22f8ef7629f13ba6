# Connection tracking: connection structs come from a per-worker slab (chunks of
# LB_SLAB_CHUNK, never freed while the worker lives) so nothing is malloc'd per connection.
# A connection freed during a loop iteration goes to the dead list and is reused only after the
# iteration, so a later event in the same epoll batch can still see state == CS_FREE.
# The worker holds its lock while it handles a batch; connections() copies entries under it.

cdef const char *CONN_STATE_NAMES[6]
CONN_STATE_NAMES[CS_FREE] = "FREE"
CONN_STATE_NAMES[CS_SYN_SENT] = "SYN_SENT"
CONN_STATE_NAMES[CS_ESTABLISHED] = "ESTABLISHED"
CONN_STATE_NAMES[CS_CLIENT_FIN] = "FIN_WAIT"
CONN_STATE_NAMES[CS_BACKEND_FIN] = "CLOSE_WAIT"
CONN_STATE_NAMES[CS_CLOSING] = "CLOSING"


cdef lb_conn _CONN_LAYOUT       # only for the offset of its handles


cdef inline lb_conn *_conn_of(lb_handle *h, int side) noexcept nogil:
    """The connection whose handle for side (0 client, 1 backend) h is."""
    return <lb_conn *>(<char *>(h - side) - (<char *>&_CONN_LAYOUT.h[0] - <char *>&_CONN_LAYOUT))


cdef lb_conn *_conn_alloc(lb_worker *w) noexcept nogil:
    """A zeroed connection in state SYN_SENT with its two handles set; NULL when out of memory."""
    cdef lb_conn *c
    cdef lb_conn *chunk
    cdef lb_conn **chunks
    cdef int i
    if w.free_list == NULL:
        chunks = <lb_conn **>realloc(w.chunks, (w.n_chunks + 1) * sizeof(lb_conn *))
        if chunks == NULL:
            return NULL
        w.chunks = chunks
        chunk = <lb_conn *>calloc(LB_SLAB_CHUNK, sizeof(lb_conn))
        if chunk == NULL:
            return NULL
        w.chunks[w.n_chunks] = chunk
        w.n_chunks += 1
        for i in range(LB_SLAB_CHUNK - 1, -1, -1):
            chunk[i].next = w.free_list
            w.free_list = &chunk[i]
    c = w.free_list
    w.free_list = c.next
    memset(c, 0, sizeof(lb_conn))
    c.h[0].kind = LB_H_CLIENT
    c.h[1].kind = LB_H_BACKEND
    c.fd[0] = -1
    c.fd[1] = -1
    c.half[0].pipe_r = -1
    c.half[0].pipe_w = -1
    c.half[1].pipe_r = -1
    c.half[1].pipe_w = -1
    c.heap_idx = -1
    c.state = CS_SYN_SENT     # in use from here; the first connect attempt follows at once
    w.n_conns += 1
    return c


cdef inline void _conn_release(lb_worker *w, lb_conn *c) noexcept nogil:
    c.state = CS_FREE
    c.next = w.dead_list
    w.dead_list = c
    w.n_conns -= 1


cdef void _conn_recycle_dead(lb_worker *w) noexcept nogil:
    cdef lb_conn *c
    while w.dead_list != NULL:
        c = w.dead_list
        w.dead_list = c.next
        c.next = w.free_list
        w.free_list = c


cdef int _conn_copy_all(lb_worker *w, lb_conncopy **out, int *n_out) noexcept nogil:
    """Copies the worker's live entries into a malloc'd array (caller frees); -errno on failure."""
    cdef int i, j, n = 0
    cdef lb_conn *c
    cdef lb_conncopy *cp
    pthread_mutex_lock(&w.lock)
    cp = <lb_conncopy *>malloc((w.n_conns + 1) * sizeof(lb_conncopy))
    if cp == NULL:
        pthread_mutex_unlock(&w.lock)
        return -ENOMEM
    for i in range(w.n_chunks):
        for j in range(LB_SLAB_CHUNK):
            c = &w.chunks[i][j]
            if c.state == CS_FREE or n > w.n_conns:
                continue
            cp[n].client = c.client
            cp[n].frontend = c.frontend
            cp[n].backend = c.backend
            cp[n].state = c.state
            cp[n].bytes_in = c.half[0].bytes
            cp[n].bytes_out = c.half[1].bytes
            cp[n].start_ns = c.start_ns
            cp[n].last_ns = c.last_ns
            cp[n].sp_id = c.sp_id
            cp[n].ep_id = c.ep_id
            n += 1
    pthread_mutex_unlock(&w.lock)
    out[0] = cp
    n_out[0] = n
    return 0
