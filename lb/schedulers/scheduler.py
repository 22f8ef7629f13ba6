"""Twin of the test hook lb._core.Scheduler: one service port's row as Core.apply and
set_endpoint_state build it (ext/table_build.pyx), picked from as a worker picks (affinity,
the dispatcher with slow start, the algorithm). Times are integer nanoseconds."""
from . import lc, mh, rr, sh, wlc, wrr
from .affinity import AffinityTable
from .hashing import ip16
from .row import Ctx, Endpoint, EpState, Options, Row, SpState, eligible
from .slowstart import sched_pick

ALGORITHMS = {m.NAME: m for m in (rr, wrr, lc, wlc, sh, mh)}


def _stale(row, live):
    """Whether the row's scheduler data was built from other weights than the effective ones
    (live) or the table's."""
    if not row.algorithm.WEIGHTS:
        return False
    return any(max(ep.state.weight if live else ep.weight, 0) != ep.sched_weight
               for ep in row.eps)


def _rebuilt(old, live, now):
    """A copy of old with scheduler data built at now from the effective weights (live) or the
    table's."""
    eps = [Endpoint(ep.ep_id, ep.ip, ep.port, ep.weight,
                    max(ep.state.weight if live else ep.weight, 0), ep.state) for ep in old.eps]
    row = Row(old.algorithm, eps, old.opts, old.state, now)
    row.data = row.algorithm.build(row, old)
    return row


def _store_weight(state, weight, now):
    if weight > 0 and state.weight <= 0:
        state.since = now or 1
    state.weight = weight


class Scheduler:
    """Endpoints are (ep_id, ip, port, weight) as in a table row, options its 6th element."""

    def __init__(self, name, endpoints=(), options=(), affinity_timeout=0.0, now_ns=1):
        self.algorithm = ALGORITHMS[name or "rr"]
        self.affinity = AffinityTable(int(affinity_timeout * 1e9)) if affinity_timeout else None
        self.states = {}
        self.sp = SpState()
        self.row = None
        self.key = None
        self.live = False       # the row was rebuilt by set_endpoint_state
        self.apply(endpoints, options, now_ns)

    def apply(self, endpoints, options=(), now_ns=1):
        key = (tuple(tuple(e) for e in endpoints), tuple(tuple(o) for o in options or ()))
        old = self.row
        if old is not None and key == self.key:
            if self.live and _stale(old, False):
                self.row = _rebuilt(old, False, now_ns)
                self.live = False
        else:
            in_row = {ep.ep_id for ep in old.eps} if old is not None else set()
            eps = []
            for ep_id, ip, port, weight in key[0]:
                w = 1 if weight is None else max(weight, 0)
                state = self.states.setdefault(ep_id, EpState(w))
                if old is not None and ep_id not in in_row:
                    state.since = now_ns or 1
                eps.append(Endpoint(ep_id, ip, port, w, w, state))
            self.row = Row(self.algorithm, eps, Options.parse(key[1]), self.sp, now_ns)
            self.row.data = self.algorithm.build(self.row, old)
            self.key = key
            self.live = False
        for ep in self.row.eps:
            _store_weight(ep.state, ep.weight, now_ns)
        kept = {ep.ep_id for ep in self.row.eps}
        self.states = {i: s for i, s in self.states.items() if i in kept or s.live > 0}

    def set_endpoint_state(self, ep_id, weight, now_ns=1):
        if ep_id not in {ep.ep_id for ep in self.row.eps}:
            raise KeyError(ep_id)
        _store_weight(self.states[ep_id], weight, now_ns)
        if _stale(self.row, True):
            self.row = _rebuilt(self.row, True, now_ns)
            self.live = True

    def set_connections(self, ep_id, active, inactive):
        self.states[ep_id].active = active
        self.states[ep_id].live = active + inactive

    def pick(self, client_ip, client_port=0, now_ns=0, failed_ep_id=None):
        ctx = Ctx(ip16(client_ip), client_port, now_ns, [] if failed_ep_id is None else [failed_ep_id], failed_ep_id)
        row = self.row

        def schedule():
            i = sched_pick(row, ctx)
            return None if i < 0 else i

        if self.affinity is None:
            i = schedule()
        else:
            i = self.affinity.choose(client_ip, now_ns, [ep.ep_id for ep in row.eps],
                                     lambda k: eligible(row.eps[k]), failed_ep_id is not None,
                                     schedule)
        return None if i is None else row.eps[i].ep_id

    def slots(self, settled=False):
        if not self.algorithm.SLOTS:
            return []
        slots = self.row.data.settled if settled else self.row.data.slot
        return None if slots is None else [self.row.eps[i].ep_id for i in slots]
