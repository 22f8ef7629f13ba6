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

# schedulers (sched*.pyx)
cdef enum:
    LB_PICK_AVOID = 4              # ep_ids a pick steers clear of: the one that failed, slow start's
    LB_SLOW_START_TRIES = 4        # candidates slow start considers per pick; the last is taken
    LB_RAMP_ONE = 65536            # slow start progress unit: 65536 = full share
    LB_HASH_TRIES = 8              # sh/mh: rehashes of a client before scanning the row
    LB_SLOTS_MAX_EPS = 65535       # slot tables hold uint16 indices: endpoints per wrr/sh/mh row
    LB_SLOT_EMPTY = 65535          # a slot not filled yet (mh build)
    LB_WRR_MAX_SEQ = 16384         # wrr sequence length; larger weight sums are scaled down
    LB_SH_BUCKETS = 4096           # sh: buckets per row (IPVS: 256)
    LB_MH_DEFAULT_SIZE = 65537     # mh: lookup table size, a prime (Maglev paper's small size)
    LB_MH_MAX_SIZE = 1048573       # largest prime below 2^20
    LB_MH_TURN_BITS = 8            # mh: weights are scaled to at most 2^8 turns per round
    LB_EP_NAME_MAX = 64            # "[v6 address]:port" and its NUL
    LB_MAX_SLOW_START_S = 86400    # slow_start option: at most a day

# lb_sched_ops.flags: what a scheduler's data depends on
cdef enum:
    LB_SCHED_F_WEIGHTS = 1         # sched_data is built from the endpoints' weights: rebuilt when one changes
    LB_SCHED_F_SLOTS = 2           # sched_data is an lb_slots (sched_slots.pyx)
    LB_SCHED_F_CLIENT_HASH = 4     # the choice is a function of the client: slow start admits by client hash

# lb_sched_ops.options: the row options a scheduler accepts besides the common ones (slow_start)
cdef enum:
    LB_OPT_HASH_PORT = 1
    LB_OPT_MH_TABLE_SIZE = 2

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
# sched_slots.pyx _hash64: FNV-1a 64 then MurmurHash3's fmix64. The seeds are fixed so that every
# node computes the same hashes (lb/schedulers/hashing.py holds the same numbers).
cdef uint64_t LB_FNV64_OFFSET = 0xcbf29ce484222325
cdef uint64_t LB_FNV64_PRIME = 0x100000001b3
cdef uint64_t LB_FMIX_C1 = 0xff51afd7ed558ccd
cdef uint64_t LB_FMIX_C2 = 0xc4ceb9fe1a85ec53
cdef uint64_t LB_SEED_MH_OFFSET = 0x6d686f6666736574  # Maglev h1 of an endpoint name
cdef uint64_t LB_SEED_MH_SKIP = 0x6d68736b69700000    # Maglev h2
cdef uint64_t LB_SEED_LOOKUP = 0x6c6f6f6b75700000     # client -> slot; + k for the k-th rehash
cdef uint64_t LB_SEED_SLOW_START = 0x736c6f7773746172  # slow start's admission draw
