# A polled descriptor, as HAProxy's fdtab and uvloop's handles: every fd in a worker's epoll is
# registered with epoll_data.ptr = &handle, the handle embedded first in the fd's owner (a
# listener, each side of a TCP connection, the worker's eventfd). A handle is its kind, one
# byte: the loop calls _ON_EVENT[kind](w, h, events) (worker.pxd) and the callback finds its
# owner from h. One byte rather than a callback pointer per handle because a TCP connection
# has two and an idle connection's budget is counted in bytes. A new kind of descriptor (UDP
# sockets) is a new LB_H_* and a callback registered at the end of its own file.
ctypedef struct lb_handle:
    uint8_t kind            # LB_H_*
