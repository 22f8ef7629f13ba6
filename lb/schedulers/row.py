"""One service port's row as the core's schedulers see it (ext/table.pxd lb_sp, lb_endpoint,
lb_epstate), the pick context (ext/sched.pxd lb_pick_ctx), and the eligibility rules every
pick shares (ext/sched.pyx _ep_pickable, _sched_scan)."""
from dataclasses import dataclass, field
from math import gcd


@dataclass
class EpState:
    """Per ep_id, outlives rows: the effective weight, when the endpoint last became eligible
    (0: never in slow start), and the live counts (ActiveConn, and all connections)."""
    weight: int
    since: int = 0
    active: int = 0
    live: int = 0


@dataclass
class Endpoint:
    ep_id: int
    ip: str
    port: int
    weight: int             # the table's
    sched_weight: int       # the one the scheduler data was built from
    state: EpState


@dataclass
class Options:
    slow_start_ns: int = 0
    table_size: int = 0
    hash_port: bool = False

    @classmethod
    def parse(cls, options):
        """From a row's 6th element; the core validates, this only reads."""
        d = dict(options or ())
        return cls(slow_start_ns=int(d.get("slow_start", 0) * 1e9),
                   table_size=d.get("mh_table_size", 0), hash_port=d.get("hash_port", False))


@dataclass
class SpState:
    cursor: int = 0         # rr and wrr


@dataclass
class Row:
    algorithm: object       # the module of the scheduler (rr, wrr, lc, wlc, sh, mh)
    eps: list
    opts: Options
    state: SpState
    built_ns: int = 0       # when data was built
    data: object = None     # the algorithm's (Slots for wrr, sh, mh)


@dataclass
class Slots:
    """ext/sched.pxd lb_slots: endpoint indices, and for sh/mh built while endpoints ramp the
    slot's endpoint from before them (None when none ramped)."""
    slot: list
    settled: list = None


@dataclass
class Ctx:
    client: bytes           # 16 bytes (hashing.ip16)
    port: int = 0
    now: int = 0
    avoid: list = field(default_factory=list)
    failed_ep_id: int | None = None     # a retry: the endpoint whose connect just failed


def eligible(ep):
    return ep.state.weight > 0


def ramping(row, j):
    """Whether row.eps[j] was eligible and in the row's slow start when the row was built."""
    ep = row.eps[j]
    if row.opts.slow_start_ns == 0 or ep.sched_weight <= 0:
        return False
    since = ep.state.since
    return since != 0 and row.built_ns >= since and row.built_ns - since < row.opts.slow_start_ns


def pickable(row, ctx, i):
    return eligible(row.eps[i]) and row.eps[i].ep_id not in ctx.avoid


def scan(row, ctx, start):
    """(i, steps): the first pickable endpoint at or after start (wrapping) and how many places
    after start it is; when every eligible endpoint is avoided, the first of those; (-1, 0) when
    none is eligible."""
    n = len(row.eps)
    fallback = (-1, 0)
    for k in range(n):
        i = (start + k) % n
        if eligible(row.eps[i]):
            if row.eps[i].ep_id not in ctx.avoid:
                return i, k
            if fallback[0] < 0:
                fallback = (i, k)
    return fallback


def after_failed(row, ctx):
    """On a retry, the pickable endpoint after the one that failed (row order, wrapping), for
    the cursor schedulers (rr, wrr) whose retries do not take a turn; None when not a retry
    or the failed endpoint left the row."""
    if ctx.failed_ep_id is None:
        return None
    for j, ep in enumerate(row.eps):
        if ep.ep_id == ctx.failed_ep_id:
            return scan(row, ctx, j + 1)[0]
    return None


def eligible_weights(row):
    """(indices, weights) of the endpoints whose sched_weight is > 0, the weights divided by
    their greatest common divisor."""
    idx = [j for j, ep in enumerate(row.eps) if ep.sched_weight > 0]
    w = [row.eps[j].sched_weight for j in idx]
    g = 0
    for x in w:
        g = gcd(g, x)
    return idx, [x // g for x in w]
