"""Twin of ext/sched_affinity.pyx: ClientIP session affinity (kube-proxy roundrobin.go
affinityState) in front of a scheduler."""
import ipaddress

from .rr import RoundRobin


class AffinityTable:
    """A client IP keeps its endpoint while now - last_used < timeout_ns and the endpoint is still
    among the row's and eligible, refreshing last_used on each use. Otherwise, or with
    reset=True (the previous connect failed), the scheduler picks and the answer is recorded;
    when nothing is eligible the entry stays as it was and the answer is None.

    pick() puts it in front of round robin, as the hook lb._core.AffinityTable does; choose()
    in front of any scheduler (lb.schedulers.Scheduler).
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

    def choose(self, client_ip, now_ns, ep_ids, eligible, reset, schedule):
        """Index into ep_ids for client_ip: its entry's endpoint while valid and eligible(i),
        else schedule() (an index or None), recorded."""
        if not ep_ids:
            return None
        key = self._key(client_ip)
        entry = self.entries.get(key)
        if entry is not None and not reset and now_ns - entry[1] < self.timeout_ns:
            for i, ep_id in enumerate(ep_ids):
                if ep_id == entry[0] and eligible(i):
                    entry[1] = now_ns
                    return i
        i = schedule()
        if i is not None:
            self.entries[key] = [ep_ids[i], now_ns]
        return i

    def pick(self, client_ip, now_ns, endpoints, reset=False, weights=None):
        """ep_id for client_ip among endpoints (ep_ids) in front of round robin; None when none
        is eligible. weights: one per endpoint, <= 0 not eligible, None all eligible."""
        i = self.choose(client_ip, now_ns, endpoints,
                        lambda i: weights is None or weights[i] > 0, reset,
                        lambda: self.rr.next(len(endpoints), weights))
        return None if i is None else endpoints[i]

    def reap(self, now_ns):
        """Drops entries expired at now_ns."""
        self.entries = {k: e for k, e in self.entries.items() if now_ns - e[1] < self.timeout_ns}

    def __len__(self):
        return len(self.entries)
