# Listeners: one socket per address:port created by Python, shared by every worker: each
# worker's epoll holds the fd with EPOLLEXCLUSIVE (level-triggered), so one connection wakes
# one worker and the fd costs one descriptor, not one per worker. Where descriptors allow,
# Python instead hands one SO_REUSEPORT socket per worker (l.worker = k), which spreads
# connections evenly; EPOLLEXCLUSIVE favours the first idle worker. On EMFILE/ENFILE a worker
# takes the fd out of its own epoll for LB_EMFILE_BACKOFF_MS instead of spinning on it.
# An accepted connection's service port comes from the frontend hash (by listener, and for
# wildcard listeners by the local address); forward.pyx takes it from there.


cdef lb_listener *_listener_new(int fd, int64_t listener_id, bint wildcard, int worker) noexcept nogil:
    """A listener for a validated listening fd (not yet in any epoll); NULL when out of memory."""
    cdef lb_listener *l = <lb_listener *>calloc(1, sizeof(lb_listener))
    if l == NULL:
        return NULL
    l.h.kind = LB_H_LISTENER
    l.fd = fd
    l.listener_id = listener_id
    l.worker = worker
    l.wildcard = wildcard
    pthread_mutex_init(&l.lock, NULL)
    l.local.len = sizeof(sockaddr_in6)
    getsockname(fd, <sockaddr *>&l.local.sa, &l.local.len)
    return l


cdef void _listener_free(lb_listener *l) noexcept nogil:
    """Closes and frees a listener that no epoll holds and no worker can reach."""
    close(l.fd)
    pthread_mutex_destroy(&l.lock)
    free(l)


cdef int _listener_arm(lb_listener *l, int epfd) noexcept nogil:
    cdef epoll_event ev
    ev.events = EPOLLIN | EPOLLEXCLUSIVE
    ev.data.ptr = &l.h
    if epoll_ctl(epfd, EPOLL_CTL_ADD, l.fd, &ev) < 0:
        return -errno
    return 0


cdef void _listener_pause(lb_worker *w, lb_listener *l) noexcept nogil:
    cdef lb_pause *p
    pthread_mutex_lock(&l.lock)
    if not l.closed:
        if w.n_pauses == w.cap_pauses:
            p = <lb_pause *>realloc(w.pauses, (w.cap_pauses * 2 + 8) * sizeof(lb_pause))
            if p == NULL:
                pthread_mutex_unlock(&l.lock)
                return
            w.pauses = p
            w.cap_pauses = w.cap_pauses * 2 + 8
        epoll_ctl(w.epfd, EPOLL_CTL_DEL, l.fd, NULL)
        w.pauses[w.n_pauses].listener = l
        w.pauses[w.n_pauses].until = w.now + LB_EMFILE_BACKOFF_MS * NS_PER_MS
        w.n_pauses += 1
    pthread_mutex_unlock(&l.lock)


cdef void _listeners_resume(lb_worker *w, bint all_due) noexcept nogil:
    """Re-arms paused listeners whose backoff ended and forgets closed ones."""
    cdef int i = 0
    cdef lb_listener *l
    while i < w.n_pauses:
        l = w.pauses[i].listener
        pthread_mutex_lock(&l.lock)
        if l.closed:
            pass
        elif all_due or w.now >= w.pauses[i].until:
            _listener_arm(l, w.epfd)
        else:
            pthread_mutex_unlock(&l.lock)
            i += 1
            continue
        pthread_mutex_unlock(&l.lock)
        w.n_pauses -= 1
        w.pauses[i] = w.pauses[w.n_pauses]


cdef void _on_listener_event(lb_worker *w, lb_handle *h, uint32_t events) noexcept nogil:
    """Accepts up to LB_ACCEPT_BATCH connections from the listener h belongs to; none once the
    core is stopping (stop unregisters listeners, but a batch may still hold an event)."""
    cdef lb_listener *l = <lb_listener *>h
    cdef int i, fd, e
    cdef lb_addr client
    if lb_load_int(&w.shared.stopping):
        return
    for i in range(LB_ACCEPT_BATCH):
        if l.closed:
            return
        client.len = sizeof(sockaddr_in6)
        fd = accept4(l.fd, <sockaddr *>&client.sa, &client.len, SOCK_NONBLOCK | SOCK_CLOEXEC)
        if fd < 0:
            e = errno
            if e == EAGAIN:
                return
            if e == EINTR or e == ECONNABORTED:
                continue
            if e == EMFILE or e == ENFILE or e == ENOBUFS or e == ENOMEM:
                w.accept_emfile += 1
                _listener_pause(w, l)
                return
            w.accept_other += 1
            return
        _on_accepted(w, l, fd, &client)


cdef void _on_accepted(lb_worker *w, lb_listener *l, int fd, lb_addr *client) noexcept nogil:
    """Finds the row of a connection accepted on l and hands it to TCP forwarding; resets it
    when no frontend matches or the frontend's sp_id has no row (no_frontend_resets)."""
    cdef lb_addr local
    cdef int64_t sp_id
    cdef lb_sp *sp = NULL
    if l.wildcard:
        local.len = sizeof(sockaddr_in6)
        if getsockname(fd, <sockaddr *>&local.sa, &local.len) < 0:
            _close_reset(fd)
            w.accept_other += 1
            return
    else:
        local = l.local
    if _fe_lookup(w.table, l.listener_id, l.wildcard, &local, &sp_id) == 0:
        sp = _sp_find(w.table, sp_id)
    if sp == NULL:
        w.no_frontend_resets += 1
        _close_reset(fd)
        return
    _conn_open(w, fd, client, &local, sp)


_ON_EVENT[LB_H_LISTENER] = _on_listener_event
