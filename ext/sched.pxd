# The scheduler interface, in the IPVS (struct ip_vs_scheduler) and HAProxy (lb_* ops) style:
# one lb_sched_ops per algorithm (sched_<name>.pyx), registered by name (sched.pyx), chosen per
# service port by its table row. ClientIP affinity (sched_affinity.pyx) sits in front and asks
# the row's scheduler on a miss; slow start (sched_slowstart.pyx) sits behind the dispatcher.
#
# All functions run without the GIL and return codes. A published row is immutable, so init
# and update build sched_data before publication and pick only reads it (or updates it
# atomically). pick may run under the affinity lock: it must not block or take that lock.

ctypedef struct lb_pick_ctx:
    uint8_t client_ip[16]       # IPv4 as ::ffff:a.b.c.d
    uint16_t client_port
    uint8_t failed              # the previous connect attempt of this connection failed
    uint8_t n_avoid             # entries of avoid in use
    int attempt                 # attempts already made for this connection: 0 on the first
    int64_t failed_ep_id        # when failed: the endpoint that failed (it may have left the row)
    uint64_t now                # CLOCK_MONOTONIC ns
    # ep_ids a pick must not return while another eligible endpoint exists (soft: when every
    # eligible endpoint is avoided, one of them is returned): the endpoint whose connect just
    # failed, the endpoints slow start turned away
    int64_t avoid[LB_PICK_AVOID]

# A row's scheduler options (the optional 6th element of a table row), validated by
# sched_options.pyx; zero means the default.
ctypedef struct lb_sched_opts:
    uint64_t slow_start_ns      # every scheduler: a newly eligible endpoint's share ramps up
    uint32_t table_size         # mh: lookup table size, a prime
    uint8_t hash_port           # sh, mh: hash the client's address and port, not the address only

ctypedef struct lb_sched_ops:
    const char *name            # the table row's scheduler name
    uint32_t flags              # LB_SCHED_F_*: what sched_data depends on
    uint32_t options            # LB_OPT_*: the row options it accepts besides slow_start
    # Builds sp.sched_data for a fresh row (sp.eps, sp.opts and sp.state set). Weights come
    # from sp.eps[j].sched_weight, never from the live state. 0, or -errno with sched_data
    # left NULL.
    int (*init)(lb_sp *sp) noexcept nogil
    # Same, for a row replacing old (same sp_id, same ops): may carry state over from old by
    # copying it (each row owns its sched_data); must not change old, which workers still use
    # until it is retired. May just call init.
    int (*update)(lb_sp *sp, lb_sp *old) noexcept nogil
    # Index into sp.eps of an eligible endpoint (_ep_eligible) not in ctx.avoid for a new
    # connect attempt; an avoided one only when every eligible endpoint is avoided; -1 when
    # none is eligible. Called by every worker concurrently; n_eps may be 0. Eligibility is
    # live (set_endpoint_state): data built from other weights must still check it.
    int (*pick)(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil
    # Frees sp.sched_data once no worker can reach the row. Accepts sched_data == NULL (a row
    # whose init failed or never ran).
    void (*done)(lb_sp *sp) noexcept nogil

# Scheduler data that is a lookup table of endpoint indices (wrr's sequence, sh's buckets,
# mh's Maglev table), allocated in one block with its slots.
ctypedef struct lb_slots:
    uint32_t n                  # slots; 0 when no endpoint was eligible at build
    uint16_t *slot              # indices into the row's eps
    # sh, mh: where each slot's clients went before the endpoints in slow start at build came
    # (sched_slowstart.pyx): the first fallback of a client slow start turned away, so that it
    # stays where it was until admitted. NULL when no endpoint was in slow start.
    uint16_t *settled

# The eligible endpoints of a row whose slots are being built (_eligible_new), with scratch
# space for the scheduler, in one allocation.
ctypedef struct lb_eligible:
    int m                       # how many endpoints have sched_weight > 0
    int ramping                 # how many of those were in slow start at build (_ep_ramping)
    int *idx                    # their indices into the row's eps, in row order
    uint64_t *w                 # their weights divided by the weights' greatest common divisor
    void *extra                 # the scheduler's scratch, zeroed: (n_eps + 1) x extra_size bytes
