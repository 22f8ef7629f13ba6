ctypedef struct lb_addr:
    sockaddr_in6 sa         # holds a sockaddr_in when sa.sin6_family == AF_INET
    socklen_t len

# Per-worker counter slots: slot i is written only by worker i, summed by stats().
ctypedef struct lb_epcnt:
    int64_t live            # connections on this endpoint in any state
    int64_t active          # established (ipvs ActiveConn)
    uint64_t connections
    uint64_t bytes_in
    uint64_t bytes_out
    uint64_t connect_failures
    uint64_t _pad0
    uint64_t _pad1

ctypedef struct lb_spcnt:
    int64_t live
    uint64_t connections
    uint64_t bytes_in
    uint64_t bytes_out
    uint64_t connect_failures
    uint64_t retries
    uint64_t no_endpoint_resets
    uint64_t _pad0

# State that outlives tables: kept per sp_id / ep_id across applies, freed once no table
# and no connection refers to it.
ctypedef struct lb_epstate:
    int64_t ep_id
    lb_epcnt *cnt

ctypedef struct lb_spstate:
    int64_t sp_id
    uint64_t rr
    lb_affinity aff
    lb_spcnt *cnt

ctypedef struct lb_endpoint:
    int64_t ep_id
    lb_epstate *state
    lb_addr addr

ctypedef struct lb_sp:
    int64_t sp_id
    lb_spstate *state
    uint64_t affinity_ns    # 0: no ClientIP affinity
    int n_eps
    lb_endpoint *eps

ctypedef struct lb_fekey:
    int64_t listener_id
    uint8_t ip[16]
    uint32_t port
    uint32_t kind           # FE_*

ctypedef struct lb_feslot:
    lb_fekey key
    int used
    int sp_idx              # index into sps, -1 when the sp_id is not in the table

# Immutable once published.
ctypedef struct lb_table:
    uint64_t generation
    int n_sps
    lb_sp *sps              # sorted by sp_id
    uint32_t fe_cap
    lb_feslot *fe


cdef extern from *:
    lb_table *lb_load_table "lb_load_acq"(lb_table **p) nogil
    lb_table *lb_exchange_table "lb_exchange"(lb_table **p, lb_table *v) nogil
