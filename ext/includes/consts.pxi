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
    LB_MAX_SCHEDULERS = 16         # registry slots (sched.pyx)
    LB_MAX_WEIGHT = 2147483647     # endpoint weights are C ints; larger table weights are clamped
    LB_MIN_HASH_CAP = 16           # smallest open-addressing table (sp_id and frontend hashes)

# What a polled descriptor is: lb_handle.kind. Each kind has its own on_event callback.
cdef enum:
    LB_H_WAKE = 1                  # the worker's eventfd
    LB_H_LISTENER = 2              # a listening TCP socket (listener.pyx)
    LB_H_CLIENT = 3                # a TCP connection's client side (forward.pyx)
    LB_H_BACKEND = 4               # a TCP connection's backend side (forward.pyx)
    LB_H_COUNT = 8                 # size of the callback table (worker.pxd _ON_EVENT)

# connection states; connections() names them with ipvs' words (conntrack.pyx)
cdef enum:
    CS_FREE = 0
    CS_SYN_SENT = 1
    CS_ESTABLISHED = 2
    CS_CLIENT_FIN = 3    # the client sent FIN: "FIN_WAIT"
    CS_BACKEND_FIN = 4   # the backend sent FIN: "CLOSE_WAIT"
    CS_CLOSING = 5       # both sent FIN, bytes still in flight

# frontend lookup keys
cdef enum:
    FE_LISTENER = 0      # any connection on the listener (non-wildcard listeners)
    FE_ADDR_PORT = 1     # wildcard listener: exact local ip and port
    FE_PORT = 2          # wildcard listener: entry with empty ip, exact port
    FE_ANY = 3           # wildcard listener: entry with empty ip and port 0

# retired objects, freed (core.pyx _free_retired) once every worker is past them
cdef enum:
    RETIRED_TABLE = 1        # an lb_table's own arrays; its rows and frontends retire on their own
    RETIRED_ROW = 2          # an lb_sp no published table holds any more
    RETIRED_FRONTENDS = 3    # an lb_frontends replaced by a different frontends list
    RETIRED_LISTENER = 4
    RETIRED_SPSTATE = 5      # per sp_id state, once no table and no connection refers to it
    RETIRED_EPSTATE = 6      # per ep_id state, likewise

cdef uint64_t NS_PER_SEC = 1000000000
cdef uint64_t NS_PER_MS = 1000000
cdef uint64_t LB_HASH_MUL = 0x9E3779B97F4A7C15     # 2^64 / golden ratio: Fibonacci hashing of ids
