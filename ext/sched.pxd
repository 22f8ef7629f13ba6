# The scheduler interface, in the IPVS (struct ip_vs_scheduler) and HAProxy (lb_* ops) style:
# one lb_sched_ops per algorithm (sched_<name>.pyx), registered by name (sched.pyx), chosen per
# service port by its table row. ClientIP affinity (sched_affinity.pyx) sits in front and asks
# the row's scheduler on a miss.
#
# All functions run without the GIL and return codes. A published row is immutable, so init
# and update build sched_data before publication and pick only reads it (or updates it
# atomically). pick may run under the affinity lock: it must not block or take that lock.

ctypedef struct lb_pick_ctx:
    uint8_t client_ip[16]       # IPv4 as ::ffff:a.b.c.d
    uint16_t client_port
    uint8_t failed              # the previous connect attempt of this connection failed
    int attempt                 # attempts already made for this connection: 0 on the first
    int64_t failed_ep_id        # when failed: the endpoint that failed (it may have left the row)
    uint64_t now                # CLOCK_MONOTONIC ns

ctypedef struct lb_sched_ops:
    const char *name            # the table row's scheduler name
    # Builds sp.sched_data for a fresh row (sp.eps and sp.state set). 0, or -errno with
    # sched_data left NULL.
    int (*init)(lb_sp *sp) noexcept nogil
    # Same, for a row replacing old (same sp_id, same ops): may carry state over from old by
    # copying it (each row owns its sched_data); must not change old, which workers still use
    # until it is retired. May just call init.
    int (*update)(lb_sp *sp, lb_sp *old) noexcept nogil
    # Index into sp.eps of an eligible endpoint (_ep_eligible) for a new connect attempt, -1
    # when none is. Called by every worker concurrently; n_eps may be 0.
    int (*pick)(lb_sp *sp, const lb_pick_ctx *ctx) noexcept nogil
    # Frees sp.sched_data once no worker can reach the row. Accepts sched_data == NULL (a row
    # whose init failed or never ran).
    void (*done)(lb_sp *sp) noexcept nogil
