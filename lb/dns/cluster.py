"""The cluster DNS as `lb run` holds it: started after the first apply, updated with every
Snapshot lb.control publishes, closed at shutdown.

    dns = await start_cluster_dns(settings, snapshot, log, node_addresses)   # None: DNS is off
    dns.update(snapshot)        # after every apply: the next query sees the new zone
    await dns.close()

start refuses (DnsStartError, a ValueError: `lb run` exits 2 with its message) when a bind
address is also a Service's frontend or cannot be bound. A reload that brings such a
conflict is logged (event dns_conflict) and changes nothing: the DNS keeps its sockets.
"""
from __future__ import annotations

from lb.addresses import host_port, is_loopback, is_wildcard, parse_host_port
from lb.dns.answer import Answerer
from lb.dns.conflicts import bind_conflicts, view_conflicts
from lb.dns.records import Zone
from lb.dns.responder import Responder
from lb.dns.server import BindError, DnsServer
from lb.dns.upstream import Upstream, parse_upstream, resolv_conf_nameservers
from lb.settings import RunSettings
from lb.snapshot import Snapshot

DNS_PORT = 53


class DnsStartError(ValueError):
    """Why the DNS could not start; lb run prints it and exits 2."""


class ClusterDns:
    def __init__(self, settings: RunSettings, log, node_addresses=("0.0.0.0", "::"), resolv_conf="/etc/resolv.conf"):
        self.settings = settings
        self.log = log
        self.node_addresses = tuple(node_addresses)
        self.binds = [parse_host_port(b, DNS_PORT) for b in settings.dns_bind_addresses]
        self.upstream = self._upstream(resolv_conf)
        self.zone: Zone | None = None
        self.responder: Responder | None = None
        self.server: DnsServer | None = None
        self._conflicts: tuple[str, ...] = ()
        self._known: dict[str, tuple] = {}        # service key -> its conflicts (only those with some)
        self._followed = None                     # the Snapshot they were worked out for

    def _upstream(self, resolv_conf: str) -> Upstream | None:
        chosen = self.settings.dns_upstreams
        if chosen is None:
            return None
        servers = [parse_upstream(a) for a in chosen] if chosen else resolv_conf_nameservers(resolv_conf)
        # lb itself in resolv.conf (`nameserver 127.0.0.1` with lb on :53) would forward to itself forever
        mine = [s for s in servers if any(_same_server(s, bind) for bind in self.binds)]
        for ip, port in mine:
            self.log("dns_upstream_skipped", level="warning", upstream=host_port(ip, port), reason="lb's own address")
        servers = [s for s in servers if s not in mine]
        if not servers:
            self.log("dns_upstream_none", level="warning", hint="no upstream nameserver: names outside the zone "
                     "are REFUSED (give --dns-upstream ADDR)")
            return None
        return Upstream(servers)

    async def start(self, snapshot: Snapshot) -> None:
        conflicts = bind_conflicts(snapshot, self.binds, self.node_addresses)
        if conflicts:
            raise DnsStartError("\n".join(conflicts))
        self.zone = self._zone(snapshot)
        self.responder = Responder(Answerer(self.zone, self.settings.dns_search_namespace), self.upstream)
        self.server = DnsServer(self.responder)
        try:
            upstream = ",".join(host_port(*s) for s in self.upstream.servers) if self.upstream else "refuse"
            for host, port in self.binds:
                host, port = await self.server.listen(host, port)
                self.log("dns_listen", address=host_port(host, port), protocols="UDP,TCP",
                         zone=self.settings.cluster_domain, names=len(self.zone.names), upstream=upstream,
                         search_namespace=self.settings.dns_search_namespace)
        except BindError as e:
            await self.server.close()
            raise DnsStartError(str(e)) from None

    def update(self, snapshot: Snapshot) -> None:
        """Answer from snapshot from the next query on; log conflicts a reload brought."""
        conflicts = tuple(self._conflicts_of(snapshot))
        for c in conflicts:
            if c not in self._conflicts:
                self.log("dns_conflict", level="error", error=c, kept="the DNS keeps its address")
        self._conflicts = conflicts
        if not self.zone.update(snapshot):
            return          # nothing the DNS answers changed: keep the serial and the answer cache
        self.responder.set_answerer(Answerer(self.zone, self.settings.dns_search_namespace))
        self.log("dns_zone", generation=snapshot.generation, names=len(self.zone.names), serial=self.zone.serial)

    def _conflicts_of(self, snapshot: Snapshot) -> list[str]:
        """bind_conflicts, worked out again only for the Services whose view changed."""
        changes = snapshot.changes
        if changes is not None and changes.base == id(self._followed):
            views = changes.views.items()
        else:
            self._known = {}
            views = ((view.service.key, view) for view in snapshot.services)
        self._followed = snapshot
        for key, view in views:
            found = view_conflicts(view, self.binds, self.node_addresses) if view is not None else ()
            if found:
                self._known[key] = found
            else:
                self._known.pop(key, None)
        return [c for key in sorted(self._known, key=lambda k: tuple(k.split("/", 1))) for c in self._known[key]]

    def _zone(self, snapshot: Snapshot) -> Zone:
        ns = tuple(host for host, _ in self.binds if not is_wildcard(host))
        return Zone(self.settings.cluster_domain, snapshot, ns)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self.server.addresses) if self.server else []

    def stats(self) -> dict:
        out = dict(self.responder.counters) if self.responder else {}
        if self.server:
            out.update(self.server.counters)
        if self.upstream:
            out.update({f"upstream_{k}": v for k, v in self.upstream.counters.items()})
        return out

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


def _same_server(server: tuple[str, int], bind: tuple[str, int]) -> bool:
    """server is lb's own DNS address (a wildcard bind answers on every loopback address)."""
    (ip, port), (host, bind_port) = server, bind
    return port == bind_port and (ip == host or (is_wildcard(host) and is_loopback(ip)))


async def start_cluster_dns(settings: RunSettings, snapshot: Snapshot, log, node_addresses=("0.0.0.0", "::")):
    """A started ClusterDns, or None when no --dns-bind-address is set. Raises DnsStartError."""
    if not settings.dns_bind_addresses:
        return None
    dns = ClusterDns(settings, log, node_addresses)
    await dns.start(snapshot)
    return dns
