# TCP forwarding: a connection from accept (listener.pyx) on: pick, connect with retries, then
# splice both ways.
#
# Sockets are registered once, edge-triggered, for IN|OUT|RDHUP; the connection records
# readiness (rd/wr) from events and clears it on EAGAIN, so there is no EPOLL_CTL_MOD on the
# hot path and a direction is tried as soon as both its ends are ready. A direction moves bytes
# source -> pipe -> destination and reads again only once the pipe is empty, so at most one
# pipe's worth waits when the destination is slow (backpressure). FIN is forwarded with
# shutdown(SHUT_WR) after the buffered bytes; the connection ends when both directions did so.
# An error on either socket closes both with SO_LINGER 0 (the reset propagates).
#
# Small messages take the copy path, bulk takes splice (HAProxy's splice-auto): a direction
# starts with a pooled recv/send buffer and switches to splice for good once a read fills the
# buffer. A short recv drains TCP's receive queue, so the direction waits for the next edge
# instead of paying a read that returns EAGAIN: 2 syscalls per small message instead of 3
# (splice in, splice out, splice EAGAIN). Not after RDHUP: the FIN must still be read.
#
# Connect: non-blocking, attempt k gets connect_ns[k]; refusal, unreachability or timeout
# retries with the next pick, which avoids the endpoint that failed while another is eligible
# (with ClientIP affinity the entry is reset, as kube-proxy does);
# the client is reset when every attempt failed or no endpoint is eligible.
#
# Each side is registered with its handle (c.h[0] client, c.h[1] backend); the two callbacks
# differ only in the side they pass on.


cdef inline void _set_nodelay(int fd) noexcept nogil:
    cdef int one = 1
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))


cdef inline void _close_reset(int fd) noexcept nogil:
    cdef linger lg
    lg.l_onoff = 1
    lg.l_linger = 0
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
    close(fd)


cdef inline int _epoll_add_conn(lb_worker *w, lb_conn *c, int side) noexcept nogil:
    cdef epoll_event ev
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET
    ev.data.ptr = &c.h[side]
    if epoll_ctl(w.epfd, EPOLL_CTL_ADD, c.fd[side], &ev) < 0:
        return -errno
    return 0


cdef void _conn_open(lb_worker *w, int fd, const lb_addr *client, const lb_addr *local,
                     lb_sp *sp) noexcept nogil:
    """Takes over fd, accepted for the service port sp (a row of w.table): picks an endpoint and
    starts connecting. Resets the client at once when sp has no eligible endpoint (counted in
    no_endpoint_resets) or no connection struct can be had."""
    cdef lb_conn *c = _conn_alloc(w)
    cdef int i
    if c == NULL:
        _close_reset(fd)
        w.accept_other += 1
        return
    c.client = client[0]
    i = _pick(w, c, sp, 0)
    if i < 0:
        sp.state.cnt[w.index].no_endpoint_resets += 1
        _close_reset(fd)
        _conn_release(w, c)
        return
    w.accepted += 1
    c.fd[0] = fd
    c.frontend = local[0]
    c.sp_id = sp.sp_id
    c.sp = sp.state
    c.sp.cnt[w.index].live += 1
    c.sp.cnt[w.index].connections += 1
    c.start_ns = w.now
    c.last_ns = w.now
    # TCP_NODELAY comes from the listener: accepted sockets inherit it (set in add_listener)
    if _epoll_add_conn(w, c, 0) < 0:
        _conn_close(w, c, 1)
        return
    _connect_next(w, c, sp, i, 0)


cdef void _ep_detach(lb_worker *w, lb_conn *c) noexcept nogil:
    """Drops c's claim on its endpoint's counters (the last touch of that endpoint state)."""
    cdef lb_epcnt *cnt
    if c.ep == NULL:
        return
    cnt = &c.ep.cnt[w.index]
    if c.state == CS_ESTABLISHED:
        cnt.active -= 1
    lb_store_i64(&cnt.live, cnt.live - 1)
    c.ep = NULL


cdef inline int _pick(lb_worker *w, lb_conn *c, lb_sp *sp, bint failed) noexcept nogil:
    """Index into sp.eps for c's next connect attempt: through ClientIP affinity when sp has it,
    else sp's scheduler; -1 when no endpoint is eligible. failed: c's last attempt failed."""
    cdef lb_pick_ctx ctx
    _addr_ip16(&c.client, ctx.client_ip)
    ctx.client_port = <uint16_t>_addr_port(&c.client)
    ctx.failed = failed
    ctx.attempt = c.attempt
    ctx.failed_ep_id = c.ep_id
    ctx.now = w.now
    ctx.n_avoid = failed
    ctx.avoid[0] = c.ep_id
    if sp.affinity_ns:
        return _affinity_pick(sp, &ctx)
    return _sched_pick(sp, &ctx)


cdef void _connect_next(lb_worker *w, lb_conn *c, lb_sp *sp, int i, bint failed) noexcept nogil:
    """Starts c's next connect attempt, moving on while attempts fail at once; resets the client
    when no attempt is left, no endpoint is eligible or the service port left the table.
    sp: c's row in w.table, or NULL to look it up by id (a later attempt may run under a newer
    table than the one that accepted c). i: the endpoint already picked in sp, or -1.
    failed: the previous attempt failed (counted as a retry; affinity drops the entry)."""
    cdef lb_shared *s = w.shared
    cdef lb_endpoint *ep
    cdef int fd, r
    if sp == NULL:
        sp = _sp_find(w.table, c.sp_id)
    while sp != NULL and c.attempt < s.n_connect:
        if i < 0:
            i = _pick(w, c, sp, failed)
            if i < 0:
                sp.state.cnt[w.index].no_endpoint_resets += 1
                break
        if failed:
            sp.state.cnt[w.index].retries += 1
        ep = &sp.eps[i]
        i = -1
        c.attempt += 1
        c.ep = ep.state
        c.ep_id = ep.ep_id
        c.ep.cnt[w.index].live += 1
        c.backend = ep.addr
        c.state = CS_SYN_SENT
        fd = socket(ep.addr.sa.sin6_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
        if fd < 0 and (errno == EMFILE or errno == ENFILE) and c.fd_waits < LB_FD_WAIT_TRIES:
            # out of descriptors: not the endpoint's fault; hold the client and try again
            w.socket_emfile += 1
            c.fd_waits += 1
            c.attempt -= 1
            _ep_detach(w, c)
            _timer_set(w, c, w.now + LB_EMFILE_BACKOFF_MS * NS_PER_MS)
            return
        if fd >= 0:
            _set_nodelay(fd)
            r = connect(fd, <sockaddr *>&ep.addr.sa, ep.addr.len)
            if r == 0 or errno == EINPROGRESS:
                c.fd[1] = fd
                if _epoll_add_conn(w, c, 1) == 0:
                    _timer_set(w, c, w.now + s.connect_ns[c.attempt - 1])
                    return
                c.fd[1] = -1
            close(fd)
        sp.state.cnt[w.index].connect_failures += 1
        c.ep.cnt[w.index].connect_failures += 1
        _ep_detach(w, c)
        failed = 1
    _conn_close(w, c, 1)


cdef void _on_connect_failed(lb_worker *w, lb_conn *c) noexcept nogil:
    close(c.fd[1])
    c.fd[1] = -1
    c.rd[1] = 0
    c.wr[1] = 0
    c.rdhup[1] = 0
    c.sp.cnt[w.index].connect_failures += 1
    c.ep.cnt[w.index].connect_failures += 1
    _ep_detach(w, c)
    _connect_next(w, c, NULL, -1, 1)


cdef void _on_connected(lb_worker *w, lb_conn *c) noexcept nogil:
    cdef lb_epcnt *cnt = &c.ep.cnt[w.index]
    c.state = CS_ESTABLISHED
    cnt.active += 1
    cnt.connections += 1
    c.last_ns = w.now
    _timer_set(w, c, w.now + w.shared.idle_ns)
    _pump(w, c)


cdef inline void _on_conn_event(lb_worker *w, lb_conn *c, int side, uint32_t events) noexcept nogil:
    if c.state == CS_FREE:
        return
    if events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR):
        c.rd[side] = 1
        if events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR):
            c.rdhup[side] = 1
    if events & (EPOLLOUT | EPOLLHUP | EPOLLERR):
        c.wr[side] = 1
    if c.state == CS_SYN_SENT:
        # a failed connect always raises EPOLLERR (sk_err is set), so no SO_ERROR call
        if side == 1 and events & (EPOLLOUT | EPOLLERR | EPOLLHUP):
            if events & (EPOLLERR | EPOLLHUP):
                _on_connect_failed(w, c)
            else:
                _on_connected(w, c)
        return
    c.last_ns = w.now
    _pump(w, c)


cdef void _on_client_event(lb_worker *w, lb_handle *h, uint32_t events) noexcept nogil:
    _on_conn_event(w, _conn_of(h, 0), 0, events)


cdef void _on_backend_event(lb_worker *w, lb_handle *h, uint32_t events) noexcept nogil:
    _on_conn_event(w, _conn_of(h, 1), 1, events)


cdef void _on_timer(lb_worker *w, lb_conn *c) noexcept nogil:
    """c's deadline passed: connect timeout, or idle timeout unless it was active since."""
    if c.state == CS_SYN_SENT:
        if c.fd[1] < 0:
            _connect_next(w, c, NULL, -1, 0)    # waited for a descriptor
        else:
            _on_connect_failed(w, c)
    elif c.last_ns + w.shared.idle_ns <= w.now:
        _conn_close(w, c, 0)
    else:
        _timer_set(w, c, c.last_ns + w.shared.idle_ns)


cdef int _pump_dir(lb_worker *w, lb_conn *c, int d) noexcept nogil:
    """Moves bytes from fd[d] to fd[1 - d] until one side would block.
    Returns 0 when blocked or done, 1 when the budget ran out, -errno on a socket error."""
    cdef lb_half *h = &c.half[d]
    cdef int src = c.fd[d]
    cdef int dst = c.fd[1 - d]
    cdef ssize_t n
    cdef int budget = LB_PUMP_BUDGET
    cdef int e
    while budget > 0:
        if h.pending:
            if not c.wr[1 - d]:
                return 0
            if h.pipe_r >= 0:
                n = splice(h.pipe_r, NULL, dst, NULL, h.pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
            else:
                n = send(dst, h.buf + h.buf_off, h.pending, MSG_NOSIGNAL | MSG_DONTWAIT)
            if n < 0:
                e = errno
                if e == EAGAIN:
                    c.wr[1 - d] = 0
                    return 0
                if e == EINTR:
                    continue
                return -e
            h.pending -= <uint32_t>n
            h.buf_off += <uint32_t>n
            h.bytes += <uint64_t>n
            if d == 0:
                c.sp.cnt[w.index].bytes_in += <uint64_t>n
                c.ep.cnt[w.index].bytes_in += <uint64_t>n
            else:
                c.sp.cnt[w.index].bytes_out += <uint64_t>n
                c.ep.cnt[w.index].bytes_out += <uint64_t>n
            if h.pending == 0:
                _pipe_put(w, h)
                _buf_put(w, h)
            budget -= 1
            continue
        if h.eof:
            if not h.shut:
                # when the other direction forwarded its FIN already, the close that _pump does
                # next sends this one (nothing is left unread on dst): one syscall saved
                if not c.half[1 - d].shut:
                    shutdown(dst, SHUT_WR)
                h.shut = 1
            return 0
        if not c.rd[d]:
            return 0
        if h.pipe_r < 0 and h.buf == NULL:
            if not (h.splicing and _pipe_get(w, h) == 0):
                if _buf_get(w, h) < 0 and _pipe_get(w, h) < 0:
                    return -ENOMEM
        if h.pipe_r >= 0:
            n = splice(src, NULL, h.pipe_w, NULL, <size_t>w.shared.pipe_size,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
        else:
            n = recv(src, h.buf, LB_COPY_BUF_SIZE, MSG_DONTWAIT)
            h.buf_off = 0
            if n == LB_COPY_BUF_SIZE:
                h.splicing = 1
            elif n > 0 and not c.rdhup[d]:
                c.rd[d] = 0
        if n > 0:
            h.pending = <uint32_t>n
            continue
        if n == 0:
            h.eof = 1
            _pipe_put(w, h)
            _buf_put(w, h)
            continue
        e = errno
        _pipe_put(w, h)
        _buf_put(w, h)
        if e == EAGAIN:
            c.rd[d] = 0
            return 0
        if e == EINTR:
            continue
        return -e
    return 1


cdef void _pump(lb_worker *w, lb_conn *c) noexcept nogil:
    """Runs both directions of an established connection and updates its state."""
    cdef int r0, r1
    cdef uint8_t st
    r0 = _pump_dir(w, c, 0)
    if r0 < 0:
        _conn_close(w, c, 1)
        return
    r1 = _pump_dir(w, c, 1)
    if r1 < 0:
        _conn_close(w, c, 1)
        return
    if c.half[0].shut and c.half[1].shut:
        _conn_close(w, c, 0)
        return
    if c.half[0].eof and c.half[1].eof:
        st = CS_CLOSING
    elif c.half[0].eof:
        st = CS_CLIENT_FIN
    elif c.half[1].eof:
        st = CS_BACKEND_FIN
    else:
        st = CS_ESTABLISHED
    if st != c.state:
        if c.state == CS_ESTABLISHED:
            c.ep.cnt[w.index].active -= 1
        c.state = st
    if (r0 > 0 or r1 > 0) and not c.again:
        c.again = 1
        c.again_next = w.again_list
        w.again_list = c


cdef void _conn_close(lb_worker *w, lb_conn *c, bint reset) noexcept nogil:
    """Closes both sockets (with a reset if asked), returns pipes and counters, frees c."""
    cdef int i
    for i in range(2):
        if c.fd[i] >= 0:
            if reset:
                _close_reset(c.fd[i])
            else:
                close(c.fd[i])
            c.fd[i] = -1
        _pipe_put(w, &c.half[i])
        _buf_put(w, &c.half[i])
    _timer_cancel(w, c)
    _ep_detach(w, c)
    if c.sp != NULL:
        lb_store_i64(&c.sp.cnt[w.index].live, c.sp.cnt[w.index].live - 1)
        c.sp = NULL
    _conn_release(w, c)


_ON_EVENT[LB_H_CLIENT] = _on_client_event
_ON_EVENT[LB_H_BACKEND] = _on_backend_event
