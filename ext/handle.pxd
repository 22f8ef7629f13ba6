# A polled descriptor, as uvloop's handles and HAProxy's fdtab: every fd in a worker's epoll is
# registered with epoll_data.ptr = &handle, the handle embedded in the fd's owner (a listener,
# each side of a TCP connection, the worker's eventfd). The loop only calls
# h.on_event(w, h, events); the callback finds its owner from h (owners put handles first).
# A new kind of descriptor (UDP sockets) is a new LB_H_* and a callback in its own file.
ctypedef struct lb_handle:
    void (*on_event)(lb_worker *w, lb_handle *h, uint32_t events) noexcept nogil
    int kind                # LB_H_*, for readers and debuggers; dispatch uses on_event only
