# cython: language_level=3
"""lb._core: the data plane (workers, tables, conntrack, schedulers, splice forwarding).

The Python-visible surface is Core (docs/internals.md, lb/_core.pyi), scheduler_names() and the
scheduler test hooks RoundRobinCursor, AffinityTable and Scheduler; everything else is cdef and
runs without the GIL.
"""
import os

# Types first (one .pxd per concept that has any), then code. Concepts made only of functions
# have just a .pyx: Cython does not accept forward declarations of cdef functions in a .pyx.
include "includes/system.pxd"
include "includes/consts.pxi"
include "handle.pxd"
include "sched.pxd"
include "sched_affinity.pxd"
include "table.pxd"
include "conntrack.pxd"
include "listener.pxd"
include "worker.pxd"

include "sched.pyx"
include "sched_slots.pyx"
include "sched_slowstart.pyx"
include "sched_options.pyx"
include "sched_rr.pyx"
include "sched_wrr.pyx"
include "sched_lc.pyx"
include "sched_wlc.pyx"
include "sched_sh.pyx"
include "sched_mh.pyx"
include "sched_affinity.pyx"
include "table.pyx"
include "table_build.pyx"
include "sched_hook.pyx"
include "conntrack.pyx"
include "timers.pyx"
include "pipes.pyx"
include "listener.pyx"
include "forward.pyx"
include "worker.pyx"
include "stats.pyx"


# Core: the GIL side. It owns the shared state, the workers, the listeners and the tables'
# bookkeeping (_Tables); it publishes tables, and frees what workers left behind.

cdef OSError _os_error(int err, str what):
    return OSError(err, f"{what}: {strerror(err).decode()}")


def _raise_nofile_limit():
    """Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit."""
    cdef rlimit rl
    if getrlimit(RLIMIT_NOFILE, &rl) == 0 and rl.rlim_cur < rl.rlim_max:
        rl.rlim_cur = rl.rlim_max
        setrlimit(RLIMIT_NOFILE, &rl)
        getrlimit(RLIMIT_NOFILE, &rl)
    return rl.rlim_cur


cdef uint64_t _shared_min_seen(lb_shared *s) noexcept nogil:
    """The oldest epoch a worker may still be using; UINT64_MAX when none runs."""
    cdef uint64_t m = UINT64_MAX, v
    cdef int i
    for i in range(s.n_workers):
        v = lb_load_u64(&s.workers[i].seen_epoch)
        if v < m:
            m = v
    return m


cdef void _free_retired(int kind, uintptr_t ptr) noexcept nogil:
    """Frees one retired object (RETIRED_*) that no worker, table or connection can reach.
    The one free path: _reclaim, __dealloc__ and a failed apply all come here."""
    if kind == RETIRED_TABLE:
        _table_free(<lb_table *>ptr)
    elif kind == RETIRED_ROW:
        _row_free(<lb_sp *>ptr)
    elif kind == RETIRED_FRONTENDS:
        _frontends_free(<lb_frontends *>ptr)
    elif kind == RETIRED_LISTENER:
        _listener_free(<lb_listener *>ptr)
    elif kind == RETIRED_SPSTATE:
        _spstate_free(<lb_spstate *>ptr)
    elif kind == RETIRED_EPSTATE:
        _epstate_free(<lb_epstate *>ptr)


cdef class Core:
    """The data plane. See docs/internals.md for the contract."""
    cdef lb_shared *_s
    cdef int _n_workers
    cdef bint _started
    cdef bint _stopped
    cdef uint64_t _generation
    cdef dict _listeners        # listener_id -> [<uintptr_t>lb_listener*]: one shared, or one per worker
    cdef _Tables _tables        # what built the published table; per-sp / per-ep states
    cdef list _retired          # [(epoch, RETIRED_*, <uintptr_t>ptr)]
    cdef readonly int max_pipes

    def __cinit__(self, workers=None, idle_timeout=3600.0,
                  connect_timeouts=(0.25, 0.5, 1.0, 2.0), pipe_size=65536, max_pipes=None):
        cdef int i
        cdef lb_worker *w
        cdef epoll_event ev
        self._s = NULL
        self._listeners = {}
        self._retired = []
        n = (os.cpu_count() or 1) if workers is None else int(workers)
        if not 1 <= n <= LB_MAX_WORKERS:
            raise ValueError(f"Core: workers must be 1..{LB_MAX_WORKERS}: {workers!r}")
        timeouts = [float(x) for x in connect_timeouts]
        if not 1 <= len(timeouts) <= LB_MAX_CONNECT_ATTEMPTS or min(timeouts) <= 0:
            raise ValueError(f"Core: connect_timeouts must be 1..{LB_MAX_CONNECT_ATTEMPTS} "
                             f"positive seconds: {connect_timeouts!r}")
        if float(idle_timeout) <= 0:
            raise ValueError(f"Core: idle_timeout must be > 0 seconds: {idle_timeout!r}")
        if int(pipe_size) < 4096:
            raise ValueError(f"Core: pipe_size must be >= 4096: {pipe_size!r}")
        total_pipes = LB_DEFAULT_MAX_PIPES if max_pipes is None else int(max_pipes)
        if total_pipes < 0:
            raise ValueError(f"Core: max_pipes must be >= 0: {max_pipes!r}")
        self.max_pipes = total_pipes
        _raise_nofile_limit()
        self._n_workers = n
        self._tables = _Tables(n)
        self._s = <lb_shared *>calloc(1, sizeof(lb_shared))
        if self._s == NULL:
            raise MemoryError()
        self._s.workers = <lb_worker *>calloc(n, sizeof(lb_worker))
        if self._s.workers == NULL:
            raise MemoryError()
        self._s.n_workers = n
        self._s.idle_ns = <uint64_t>(float(idle_timeout) * 1e9)
        self._s.n_connect = len(timeouts)
        for i, x in enumerate(timeouts):
            self._s.connect_ns[i] = <uint64_t>(x * 1e9)
        self._s.pipe_size = int(pipe_size)
        self._s.epoch = 1
        for i in range(n):      # before anything can fail: __dealloc__ closes what is >= 0
            self._s.workers[i].epfd = -1
            self._s.workers[i].wakefd = -1
            pthread_mutex_init(&self._s.workers[i].lock, NULL)
        for i in range(n):
            w = &self._s.workers[i]
            w.index = i
            w.shared = self._s
            w.seen_epoch = UINT64_MAX
            w.max_pipes = total_pipes // n
            w.pool = <int *>calloc(2 * w.max_pipes + 2, sizeof(int))
            w.bufs = <char **>calloc(LB_MAX_IDLE_BUFS, sizeof(char *))
            if w.pool == NULL or w.bufs == NULL:
                raise MemoryError()
            w.epfd = epoll_create1(EPOLL_CLOEXEC)
            if w.epfd < 0:
                raise _os_error(errno, "Core: epoll_create1")
            w.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
            if w.wakefd < 0:
                raise _os_error(errno, "Core: eventfd")
            w.wake.kind = LB_H_WAKE
            ev.events = EPOLLIN
            ev.data.ptr = &w.wake
            if epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.wakefd, &ev) < 0:
                raise _os_error(errno, "Core: epoll_ctl(eventfd)")

    # -- listeners -------------------------------------------------------------------------

    def add_listener(self, int fd, listener_id, wildcard=False, worker=-1):
        """Takes over a bound, listening TCP socket fd (Python detaches it afterwards).

        worker -1: every worker accepts from fd (EPOLLEXCLUSIVE). worker k: only worker k does;
        the caller hands one SO_REUSEPORT socket per worker under the same listener_id, and the
        kernel spreads connections over them by flow hash (EPOLLEXCLUSIVE wakes the first idle
        worker, which lets one worker take most connections)."""
        cdef int val = 0, i, r, flags
        cdef socklen_t vlen = sizeof(val)
        cdef lb_listener *l
        cdef int only = int(worker)
        lid = int(listener_id)
        if self._stopped:
            raise RuntimeError("add_listener: the core is stopped")
        if not -1 <= only < self._n_workers:
            raise ValueError(f"add_listener: worker {only} is not one of 0..{self._n_workers - 1}")
        group = self._listeners.get(lid)
        if group is not None and (only < 0 or any((<lb_listener *><uintptr_t>p).worker in (-1, only)
                                                  for p in group)):
            raise ValueError(f"add_listener: listener_id {lid} is already registered"
                             + (f" for worker {only}" if only >= 0 else ""))
        if getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &vlen) < 0:
            raise _os_error(errno, f"add_listener: fd {fd} is not a usable socket")
        if val != SOCK_STREAM:
            raise OSError(EINVAL, f"add_listener: fd {fd} is not a TCP (SOCK_STREAM) socket")
        vlen = sizeof(val)
        if getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &vlen) < 0 or not val:
            raise OSError(EINVAL, f"add_listener: fd {fd} is not listening: call listen() "
                                  f"before handing it over")
        # accepted sockets inherit TCP_NODELAY: one setsockopt here instead of one per client
        val = 1
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &val, sizeof(val))
        flags = fcntl(fd, F_GETFL)
        if flags >= 0 and not flags & O_NONBLOCK:
            fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        l = _listener_new(fd, lid, wildcard, only)
        if l == NULL:
            raise MemoryError()
        for i in range(self._n_workers):
            if only >= 0 and i != only:
                continue
            r = _listener_arm(l, self._s.workers[i].epfd)
            if r < 0:
                for j in range(i):
                    epoll_ctl(self._s.workers[j].epfd, EPOLL_CTL_DEL, fd, NULL)
                pthread_mutex_destroy(&l.lock)
                free(l)         # not _listener_free: the fd stays Python's
                raise _os_error(-r, f"add_listener: cannot watch fd {fd}")
        self._listeners.setdefault(lid, []).append(<uintptr_t>l)

    cdef void _unregister(self, lb_listener *l):
        cdef int i
        pthread_mutex_lock(&l.lock)
        l.closed = 1
        for i in range(self._n_workers):
            epoll_ctl(self._s.workers[i].epfd, EPOLL_CTL_DEL, l.fd, NULL)
        pthread_mutex_unlock(&l.lock)

    def remove_listener(self, listener_id):
        """Stops accepting on the listener and closes its fds; its connections continue."""
        lid = int(listener_id)
        if lid not in self._listeners:
            raise KeyError(f"remove_listener: no listener with id {lid}")
        group = self._listeners.pop(lid)
        for p in group:
            self._unregister(<lb_listener *><uintptr_t>p)
        epoch = self._bump_epoch()
        for p in group:
            self._retired.append((epoch, RETIRED_LISTENER, p))
        self._quiesce(epoch)
        self._reclaim()

    # -- tables ----------------------------------------------------------------------------

    def apply(self, table):
        """Publishes a new table; returns its generation. Invalid input raises and changes
        nothing. Rows whose tuple is unchanged and an unchanged frontends list are reused."""
        cdef lb_table *t = self._tables.compile(table, self._generation + 1,
                                                 _clock_ns(CLOCK_MONOTONIC))
        self._generation += 1
        self._publish(t)
        return self._generation

    def set_endpoint_state(self, ep_id, weight):
        """Sets ep_id's effective weight for the next pick by any worker, without a table:
        0 takes the endpoint out of scheduling (its connections continue), > 0 puts it back.
        Rows whose scheduler data depends on weights (wrr, sh, mh) are rebuilt and published
        in a table of the same generation. The next apply sets it from the table again."""
        cdef lb_table *t
        w = int(weight)
        if not 0 <= w <= LB_MAX_WEIGHT:
            raise ValueError(f"set_endpoint_state: weight must be 0..{LB_MAX_WEIGHT}: {weight!r}")
        t = self._tables.reweight(int(ep_id), w, self._generation, _clock_ns(CLOCK_MONOTONIC))
        if t != NULL:
            self._publish(t)

    cdef void _publish(self, lb_table *t):
        """Makes t (compiled or reweighted by self._tables) the table workers use and retires
        what it replaced."""
        cdef lb_table *old = lb_exchange_table(&self._s.current, t)
        epoch = self._bump_epoch()
        if old != NULL:
            self._retired.append((epoch, RETIRED_TABLE, <uintptr_t>old))
        for kind, ptr in self._tables.commit(epoch):
            self._retired.append((epoch, kind, ptr))
        self._reclaim()

    cdef uint64_t _bump_epoch(self):
        cdef int i
        cdef uint64_t e = lb_fetch_add_u64(&self._s.epoch, 1) + 1
        for i in range(self._n_workers):
            if self._s.workers[i].running:
                _worker_wake(&self._s.workers[i])
        return e

    cdef void _quiesce(self, uint64_t epoch):
        """Waits (GIL released, bounded) until every running worker has seen epoch."""
        cdef timespec ts
        cdef int i
        ts.tv_sec = 0
        ts.tv_nsec = 200000
        with nogil:
            for i in range(LB_QUIESCE_WAIT_MS * 5):
                if _shared_min_seen(self._s) >= epoch:
                    break
                nanosleep(&ts, NULL)

    cdef void _reclaim(self):
        """Frees what was retired at an epoch every worker is past, and the states that left
        the table and no connection holds any more."""
        cdef uint64_t seen = _shared_min_seen(self._s)
        retired, self._retired = self._retired, []
        for epoch, kind, ptr in retired:
            if epoch > seen:
                self._retired.append((epoch, kind, ptr))
            else:
                _free_retired(kind, ptr)
        for kind, ptr in self._tables.unreachable_states(seen):
            _free_retired(kind, ptr)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):
        """Starts the worker threads."""
        cdef int i, r
        cdef sigset_t all_signals, old
        cdef lb_worker *w
        if self._started:
            raise RuntimeError("start: the core is already started")
        if self._stopped:
            raise RuntimeError("start: the core was stopped; create a new Core")
        self._started = True
        # workers inherit a mask blocking every signal: Python handles signals in its own thread
        sigfillset(&all_signals)
        pthread_sigmask(SIG_SETMASK, &all_signals, &old)
        try:
            for i in range(self._n_workers):
                w = &self._s.workers[i]
                w.seen_epoch = lb_load_u64(&self._s.epoch)
                r = pthread_create(&w.thread, NULL, _worker_main, w)
                if r != 0:
                    w.seen_epoch = UINT64_MAX
                    raise _os_error(r, f"start: cannot create worker thread {i}")
                w.running = 1
        finally:
            pthread_sigmask(SIG_SETMASK, &old, NULL)

    def stop(self, drain_timeout=10.0):
        """Stops accepting, lets connections finish for up to drain_timeout seconds, then resets
        the rest and joins the workers. Idempotent."""
        cdef int i
        cdef lb_worker *w
        if self._s == NULL or self._stopped:
            return
        self._stopped = True
        for group in self._listeners.values():
            for p in group:
                self._unregister(<lb_listener *><uintptr_t>p)
        self._s.drain_deadline = _clock_ns(CLOCK_MONOTONIC) + <uint64_t>(max(float(drain_timeout), 0.0) * 1e9)
        lb_store_int(&self._s.stopping, 1)
        for i in range(self._n_workers):
            w = &self._s.workers[i]
            if w.running:
                _worker_wake(w)
        with nogil:
            for i in range(self._n_workers):
                w = &self._s.workers[i]
                if w.running:
                    pthread_join(w.thread, NULL)
                    w.running = 0
        for group in self._listeners.values():
            for p in group:
                self._retired.append((0, RETIRED_LISTENER, p))
        self._listeners.clear()
        self._reclaim()

    def __dealloc__(self):
        cdef int i, j
        cdef lb_worker *w
        if self._s == NULL:
            return
        try:
            self.stop(0.0)
        except BaseException:
            pass
        # no worker runs: everything still held goes through the one free path
        held = [(RETIRED_LISTENER, p) for group in (self._listeners or {}).values() for p in group]
        held += [(kind, ptr) for _, kind, ptr in (self._retired or [])]
        if self._tables is not None:
            held += self._tables.release()
        held.append((RETIRED_TABLE, <uintptr_t>self._s.current))
        for kind, ptr in held:
            _free_retired(kind, ptr)
        self._s.current = NULL
        if self._s.workers != NULL:
            for i in range(self._s.n_workers):
                w = &self._s.workers[i]
                if w.epfd >= 0:
                    close(w.epfd)
                if w.wakefd >= 0:
                    close(w.wakefd)
                _pipes_close_all(w)
                for j in range(w.n_chunks):
                    free(w.chunks[j])
                free(w.chunks)
                free(w.heap)
                free(w.pool)
                free(w.bufs)
                free(w.pauses)
                pthread_mutex_destroy(&w.lock)
            free(self._s.workers)
        free(self._s)
        self._s = NULL

    # -- observation -----------------------------------------------------------------------

    def stats(self):
        """Copies of the counters (docs/internals.md)."""
        cdef int i
        cdef lb_worker *w
        cdef int64_t active = 0
        cdef uint64_t emfile = 0, other = 0, pooled = 0, total = 0, no_frontend = 0
        cdef uint64_t socket_emfile = 0, pipe_failures = 0
        self._reclaim()
        for i in range(self._n_workers):
            w = &self._s.workers[i]
            active += w.n_conns
            emfile += w.accept_emfile
            other += w.accept_other
            no_frontend += w.no_frontend_resets
            socket_emfile += w.socket_emfile
            pipe_failures += w.pipe_failures
            pooled += w.n_pooled
            total += w.pipes_total
        return {
            "generation": self._generation,
            "workers": self._n_workers,
            "active_connections": active,
            "accept_errors": {"emfile": emfile, "other": other},
            # a wildcard listener's connection to a local address that is no frontend
            "no_frontend_resets": no_frontend,
            # backend socket() hit the descriptor limit; the client waited for one
            "backend_socket_emfile": socket_emfile,
            # pipe2 failed (descriptor limit): the direction took the copy path instead
            "pipe_failures": pipe_failures,
            "accepted_per_worker": [self._s.workers[i].accepted for i in range(self._n_workers)],
            "pipes": {"pooled": pooled, "in_use": total - pooled},
            # since start: rows compiled by apply (unchanged rows are reused, not built)
            "rows_built": self._tables.rows_built,
            "frontend_tables_built": self._tables.fe_built,
            "service_ports": {sid: _sp_stats(<lb_spstate *><uintptr_t>p, self._n_workers)
                              for sid, p in self._tables.spstates.items()},
            "endpoints": {eid: _ep_stats(<lb_epstate *><uintptr_t>p, self._n_workers)
                          for eid, p in self._tables.epstates.items()},
        }

    def connections(self):
        """Copies of the conntrack entries (docs/internals.md)."""
        cdef int i, j, n, r
        cdef lb_conncopy *cp
        cdef uint64_t mono = _clock_ns(CLOCK_MONOTONIC)
        cdef double real = _clock_ns(CLOCK_REALTIME) / 1e9
        out = []
        for i in range(self._n_workers):
            with nogil:
                r = _conn_copy_all(&self._s.workers[i], &cp, &n)
            if r < 0:
                raise _os_error(-r, "connections")
            try:
                for j in range(n):
                    cip, cport = _addr_format(&cp[j].client)
                    fip, fport = _addr_format(&cp[j].frontend)
                    bip, bport = _addr_format(&cp[j].backend)
                    out.append((cip, cport, fip, fport, bip, bport,
                                CONN_STATE_NAMES[cp[j].state].decode(),
                                cp[j].bytes_in, cp[j].bytes_out,
                                real - (<double>(mono - cp[j].start_ns)) / 1e9,
                                real - (<double>(mono - cp[j].last_ns)) / 1e9,
                                cp[j].sp_id, cp[j].ep_id))
            finally:
                free(cp)
        return out
