"""Pure-Python reference twins of the core's schedulers (ext/sched_rr.pyx, ext/sched_affinity.pyx).

tests/test_schedulers.py drives these and the C hooks (lb._core.RoundRobinCursor,
lb._core.AffinityTable) with the same random sequences and expects the same answers.
Times are integer nanoseconds, as in the core.
"""


class RoundRobin:
    """One cursor per service port: endpoints[cursor % n], then the cursor advances.

    Unlike kube-proxy's userspace proxier the cursor is neither reset nor the list shuffled when
    endpoints change: the position carries over reloads.
    """

    def __init__(self, n=0):
        self.cursor = 0
        self.n = n

    def next(self, n=None):
        n = self.n if n is None else n
        if n <= 0:
            raise ValueError("RoundRobinCursor.next: need at least one endpoint")
        i = self.cursor % n
        self.cursor += 1
        return i


class AffinityTable:
    """ClientIP session affinity (kube-proxy roundrobin.go affinityState).

    A client IP keeps its endpoint while now - last_used < timeout_ns, refreshing last_used on
    each use. A miss, an expired entry, an entry whose endpoint is not among `endpoints`, or
    reset=True (the previous connect failed) takes the next round-robin endpoint and records it.
    """

    def __init__(self, timeout_ns):
        self.timeout_ns = timeout_ns
        self.rr = RoundRobin()
        self.entries = {}   # normalised client ip -> [ep_id, last_used_ns]

    @staticmethod
    def _key(client_ip):
        import ipaddress
        ip = ipaddress.ip_address(client_ip)
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.packed

    def pick(self, client_ip, now_ns, endpoints, reset=False):
        """ep_id for client_ip among endpoints (ep_ids); None when there is none."""
        if not endpoints:
            return None
        key = self._key(client_ip)
        entry = self.entries.get(key)
        if (entry is not None and not reset and now_ns - entry[1] < self.timeout_ns
                and entry[0] in endpoints):
            entry[1] = now_ns
            return entry[0]
        ep_id = endpoints[self.rr.next(len(endpoints))]
        self.entries[key] = [ep_id, now_ns]
        return ep_id

    def reap(self, now_ns):
        """Drops entries expired at now_ns."""
        self.entries = {k: e for k, e in self.entries.items() if now_ns - e[1] < self.timeout_ns}

    def __len__(self):
        return len(self.entries)
