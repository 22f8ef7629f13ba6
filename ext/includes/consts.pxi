# Every tunable and tag of the core, named once.

cdef enum:
    LB_MAX_WORKERS = 64
    LB_MAX_CONNECT_ATTEMPTS = 8
    LB_EVENTS_BATCH = 256          # epoll_wait batch
    LB_ACCEPT_BATCH = 64           # accept4 calls per listener event
    LB_PUMP_BUDGET = 32            # splices per direction before yielding to other connections
    LB_SLAB_CHUNK = 256            # connection structs allocated together
    LB_COPY_BUF_SIZE = 16384       # copy path buffer, used when no pipe is available
    LB_MAX_IDLE_BUFS = 256
    LB_DEFAULT_MAX_PIPES = 1024    # for the whole core, split across workers
    LB_EMFILE_BACKOFF_MS = 100
    LB_FD_WAIT_TRIES = 30          # a connection waits at most this many backoffs for a descriptor
    LB_AFFINITY_REAP_MS = 1000
    LB_MAX_WAIT_MS = 1000          # epoll_wait never sleeps longer than this
    LB_QUIESCE_WAIT_MS = 2000      # remove_listener waits this long for workers to drop an fd

# epoll_data.u64 = pointer | tag (pointers are 8-aligned)
cdef enum:
    LB_TAG_CLIENT = 0
    LB_TAG_BACKEND = 1
    LB_TAG_LISTENER = 2
    LB_TAG_WAKE = 3
    LB_TAG_MASK = 3

# connection states, as connections() names them
cdef enum:
    CS_FREE = 0
    CS_SYN_SENT = 1
    CS_ESTABLISHED = 2
    CS_FIN_WAIT = 3      # the client sent FIN
    CS_CLOSE_WAIT = 4    # the backend sent FIN
    CS_CLOSING = 5       # both sent FIN, bytes still in flight

# frontend lookup keys
cdef enum:
    FE_LISTENER = 0      # any connection on the listener (non-wildcard listeners)
    FE_ADDR_PORT = 1     # wildcard listener: exact local ip and port
    FE_PORT = 2          # wildcard listener: entry with empty ip, exact port
    FE_ANY = 3           # wildcard listener: entry with empty ip and port 0

# retired objects, freed once every worker is past them
cdef enum:
    RETIRED_TABLE = 1
    RETIRED_LISTENER = 2

cdef uint64_t NS_PER_SEC = 1000000000
cdef uint64_t NS_PER_MS = 1000000
