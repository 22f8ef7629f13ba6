ctypedef struct lb_listener:
    lb_handle h             # first: the worker hands &l.h to _on_listener_event
    int fd
    int64_t listener_id
    int wildcard
    int worker              # -1: shared by every worker; k: only worker k accepts (SO_REUSEPORT)
    int closed              # set (under lock) by remove_listener/stop; no worker re-adds it
    pthread_mutex_t lock    # serialises epoll add/del of fd between workers and Python
    lb_addr local

ctypedef struct lb_pause:   # a listener a worker took out of its epoll after EMFILE
    lb_listener *listener
    uint64_t until
