# Round robin, as kube-proxy's userspace proxier does it (k/k pkg/proxy/userspace/roundrobin.go):
# one cursor per service port; each new connection takes endpoints[cursor % n] and advances it.
# The cursor is a 64-bit atomic counter shared by all workers, so the order is global whichever
# worker accepted, and it survives table applies (it lives in the service port's state).
# Unlike kube-proxy we neither shuffle nor reset on endpoint changes: the position persists.


cdef inline int _rr_pick(uint64_t *cursor, int n) noexcept nogil:
    """Index of the next endpoint among n > 0; callable from any thread."""
    return <int>(lb_fetch_add_u64(cursor, 1) % <uint64_t>n)


cdef class RoundRobinCursor:
    """Test hook: drives _rr_pick, the function the workers use."""
    cdef uint64_t _cursor
    cdef int _n

    def __init__(self, int n=0):
        self._cursor = 0
        self._n = n

    def next(self, n=None):
        cdef int k = self._n if n is None else n
        if k <= 0:
            raise ValueError("RoundRobinCursor.next: need at least one endpoint")
        return _rr_pick(&self._cursor, k)
