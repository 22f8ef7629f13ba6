"""Pure-Python reference twins of the core's schedulers (ext/sched_rr.pyx, ext/sched_affinity.pyx).

tests/test_schedulers.py drives these and the C hooks (lb._core.RoundRobinCursor,
lb._core.AffinityTable) with the same random sequences and expects the same answers.
Times are integer nanoseconds, as in the core. An endpoint with weight <= 0 is not eligible
for new connections (draining, or taken out by health checks); weights=None means all are.
"""
import ipaddress


def _eligible(weights, i):
    return weights is None or weights[i] > 0


class RoundRobin:
    """One cursor per service port: the first eligible endpoint at or after cursor % n.

    The cursor advances by one per pick, and by the number of skipped endpoints when some were
    skipped, so the endpoint after an ineligible one does not get its turn twice. Unlike
    kube-proxy's userspace proxier the cursor is neither reset nor the list shuffled when
    endpoints change: the position carries over reloads.
    """

    def __init__(self, n=0):
        self.cursor = 0
        self.n = n

    def next(self, n=None, weights=None):
        """Index of the next eligible endpoint among n (or len(weights)); None if none is."""
        n = len(weights) if weights is not None else (self.n if n is None else n)
        if n <= 0:
            raise ValueError("RoundRobinCursor.next: need at least one endpoint")
        start = self.cursor % n
        self.cursor += 1
        for k in range(n):
            i = (start + k) % n
            if _eligible(weights, i):
                self.cursor += k
                return i
        return None


class AffinityTable:
    """ClientIP session affinity (kube-proxy roundrobin.go affinityState) in front of round robin.

    A client IP keeps its endpoint while now - last_used < timeout_ns and the endpoint is still
    among `endpoints` and eligible, refreshing last_used on each use. Otherwise, or with
    reset=True (the previous connect failed), the scheduler picks and the answer is recorded;
    when nothing is eligible the entry stays as it was and the answer is None.
    """

    def __init__(self, timeout_ns):
        self.timeout_ns = timeout_ns
        self.rr = RoundRobin()
        self.entries = {}   # normalised client ip -> [ep_id, last_used_ns]

    @staticmethod
    def _key(client_ip):
        ip = ipaddress.ip_address(client_ip)
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.packed

    def pick(self, client_ip, now_ns, endpoints, reset=False, weights=None):
        """ep_id for client_ip among endpoints (ep_ids); None when none is eligible."""
        if not endpoints:
            return None
        key = self._key(client_ip)
        entry = self.entries.get(key)
        if entry is not None and not reset and now_ns - entry[1] < self.timeout_ns:
            for i, ep_id in enumerate(endpoints):
                if ep_id == entry[0] and _eligible(weights, i):
                    entry[1] = now_ns
                    return ep_id
        i = self.rr.next(len(endpoints), weights)
        if i is None:
            return None
        self.entries[key] = [endpoints[i], now_ns]
        return endpoints[i]

    def reap(self, now_ns):
        """Drops entries expired at now_ns."""
        self.entries = {k: e for k, e in self.entries.items() if now_ns - e[1] < self.timeout_ns}

    def __len__(self):
        return len(self.entries)
