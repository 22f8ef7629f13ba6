ctypedef struct lb_worker:
    int index
    int epfd
    int wakefd
    lb_handle wake              # wakefd's handle: apply/stop write to wakefd to end epoll_wait
    pthread_t thread
    int running                 # thread created and not yet joined
    uint64_t seen_epoch         # last epoch seen at the top of the loop; UINT64_MAX when idle
    lb_shared *shared
    lb_table *table             # the table this iteration uses
    uint64_t now                # CLOCK_MONOTONIC ns, refreshed after each epoll_wait
    pthread_mutex_t lock        # held while a batch is handled; connections() takes it
    # connections
    lb_conn **chunks
    int n_chunks
    lb_conn *free_list
    lb_conn *dead_list
    lb_conn *again_list
    int64_t n_conns
    # timers
    lb_conn **heap
    int heap_len
    int heap_cap
    # pipes and copy buffers
    int *pool
    int n_pooled
    int pipes_total
    int max_pipes
    char **bufs
    int n_bufs
    # listeners paused after EMFILE
    lb_pause *pauses
    int n_pauses
    int cap_pauses
    uint64_t next_reap
    # counters (this worker only)
    uint64_t accept_emfile
    uint64_t accept_other
    uint64_t no_frontend_resets
    uint64_t pipe_failures
    uint64_t socket_emfile
    uint64_t accepted        # connections this worker accepted (how evenly listeners spread them)

ctypedef struct lb_shared:
    lb_table *current           # published table
    uint64_t epoch              # bumped after each publication or listener removal
    int stopping
    uint64_t drain_deadline
    int n_workers
    lb_worker *workers
    uint64_t idle_ns
    uint64_t connect_ns[LB_MAX_CONNECT_ATTEMPTS]
    int n_connect
    int pipe_size

# The callback of each descriptor kind (handle.pxd), registered by the file that owns the kind.
ctypedef void (*lb_on_event)(lb_worker *w, lb_handle *h, uint32_t events) noexcept nogil
cdef lb_on_event _ON_EVENT[LB_H_COUNT]
