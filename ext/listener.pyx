# Listeners: one socket per address:port created by Python, shared by every worker: each
# worker's epoll holds the fd with EPOLLEXCLUSIVE (level-triggered), so one connection wakes
# one worker and the fd costs one descriptor, not one per worker. Where descriptors allow,
# Python instead hands one SO_REUSEPORT socket per worker (l.worker = k), which spreads
# connections evenly; EPOLLEXCLUSIVE favours the first idle worker. On EMFILE/ENFILE a worker
# takes the fd out of its own epoll for LB_EMFILE_BACKOFF_MS instead of spinning on it.


cdef int _listener_arm(lb_listener *l, int epfd) noexcept nogil:
    cdef epoll_event ev
    ev.events = EPOLLIN | EPOLLEXCLUSIVE
    ev.data.u64 = <uint64_t><uintptr_t>l | LB_TAG_LISTENER
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
