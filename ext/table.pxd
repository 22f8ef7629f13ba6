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
    int weight              # effective weight, atomic: apply and set_endpoint_state write it,
                            # picks read it; <= 0: no new connections (_ep_eligible)
    int n_cnt               # slots in cnt: the core's workers
    uint64_t since          # atomic: CLOCK_MONOTONIC ns when it last became eligible in a
                            # service port that had a row already (slow start); 0: from the start
    lb_epcnt *cnt

ctypedef struct lb_spstate:
    int64_t sp_id
    uint64_t cursor         # rr and wrr cursor (sched_rr.pyx, sched_wrr.pyx)
    lb_affinity aff         # ClientIP affinity entries (sched_affinity.pyx)
    lb_spcnt *cnt

ctypedef struct lb_endpoint:
    int64_t ep_id
    int weight              # as the table row gave it; apply copies it to state.weight
    int sched_weight        # the weight sched_data was built from: weight, or the effective
                            # weight when set_endpoint_state rebuilt the row (LB_SCHED_F_WEIGHTS)
    lb_epstate *state
    lb_addr addr

# One service port: a row of the table, allocated on its own (eps in the same block) and
# immutable once published. Consecutive tables share a row while its tuple is unchanged.
ctypedef struct lb_sp:
    int64_t sp_id
    lb_spstate *state
    const lb_sched_ops *ops
    void *sched_data        # the scheduler's: built by ops.init/update, freed by ops.done
    lb_sched_opts opts      # the row's scheduler options
    uint64_t built_ns       # CLOCK_MONOTONIC ns when sched_data was built: which endpoints
                            # were in slow start then (_ep_ramping)
    uint64_t affinity_ns    # 0: no ClientIP affinity
    int n_eps
    lb_endpoint *eps

ctypedef struct lb_spslot:
    int64_t sp_id
    lb_sp *row              # NULL: free slot

ctypedef struct lb_fekey:
    int64_t listener_id
    uint8_t ip[16]
    uint32_t port
    uint32_t kind           # FE_*

ctypedef struct lb_feslot:
    lb_fekey key
    int used
    int64_t sp_id           # an id, not a row: the hash does not depend on the rows

# The frontend hash; consecutive tables share it while the frontends list is unchanged.
ctypedef struct lb_frontends:
    uint32_t cap            # a power of two
    lb_feslot *slots

# Immutable once published. Owns only its arrays: rows and frontends are retired on their own.
ctypedef struct lb_table:
    uint64_t generation
    int n_rows
    lb_sp **rows
    uint32_t sp_mask        # sp_id hash (open addressing, linear probing): capacity - 1
    lb_spslot *sp_slots
    lb_frontends *fe


cdef extern from *:
    lb_table *lb_load_table "lb_load_acq"(lb_table **p) nogil
    lb_table *lb_exchange_table "lb_exchange"(lb_table **p, lb_table *v) nogil
