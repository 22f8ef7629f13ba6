"""The cluster zone computed from a Snapshot: every owner name lb answers, in one dict.

What each name holds follows the Kubernetes DNS specification (kubernetes/dns
docs/specification.md, schema 1.1.0) as CoreDNS's kubernetes plugin answers it
(plugin/kubernetes/kubernetes.go findServices, reverse.go; plugin/backend_lookup.go):

  <svc>.<ns>.svc.<zone>        ClusterIP: one entry per (port, clusterIP), the clusterIPs answer
                               A/AAAA (both families when dual-stack) and SRV for every port.
                               Headless: one entry per (ready endpoint, port); no ready endpoint,
                               no name (NXDOMAIN). A headless Service without ports still answers
                               A/AAAA (CoreDNS's port -1: no SRV).
                               ExternalName: a CNAME (kube-dns answered an IP externalName with
                               A/AAAA, and so does lb; CoreDNS answers NXDOMAIN there).
  _<port>._<proto>.<svc>...    SRV for a named port, proto in lower case.
  <hostname>.<svc>...          each ready endpoint of any non-ExternalName Service: its hostname,
                               else its dashed IP (10-244-1-39, 2001-db8--1), as CoreDNS.
  <ns>.svc.<zone>, svc.<zone>, pod.<zone>, <zone>: exist with no data (NODATA, not NXDOMAIN).
  dns-version.<zone>           TXT "1.1.0", TTL 28800 (CoreDNS's DNSSchemaVersion).
  PTR                          a clusterIP names its Service; an IP that is no clusterIP names every
                               ready endpoint with that IP (CoreDNS searches endpoints second).

Ready means the Snapshot's `ready` (publishNotReadyAddresses already counts every endpoint
ready there); CoreDNS reads ready addresses only, never the terminating fallback. Names are
lower case, absolute, as text: the index is a plain dict, built without dnspython objects,
so a reload of 10,000 Services costs string formatting only.
"""
from __future__ import annotations

import bisect
import ipaddress
import time
from typing import NamedTuple

from lb.addresses import is_ip
from lb.config.model import EXTERNAL_NAME
from lb.snapshot import Snapshot

DEFAULT_TTL = 5                 # CoreDNS's defaultTTL
SCHEMA_VERSION = "1.1.0"        # kubernetes/dns specification; CoreDNS's DNSSchemaVersion
SCHEMA_VERSION_TTL = 28800      # what CoreDNS gives the dns-version TXT
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE = 7200, 1800, 86400   # CoreDNS's plugin.SOA
SOA_MAX_TTL = 300               # CoreDNS caps the SOA's own TTL at 300 s
NO_PORT = -1                    # CoreDNS's marker for an endpoint without ports: address records only


# NamedTuples, not frozen dataclasses: a 10,000-Service zone builds 50,000 of each
class Entry(NamedTuple):
    """One CoreDNS msg.Service: an address, a port, and the name an SRV record points at."""
    host: str
    port: int
    target: str


class Node(NamedTuple):
    """What one owner name holds. An empty Node is a name that exists with no data."""
    entries: tuple[Entry, ...] = ()
    cname: str | None = None          # an ExternalName's target, absolute
    txt: tuple[str, ...] = ()


EMPTY = Node()


class Zone:
    """The index of one zone (`cluster.local`) plus the reverse names of its addresses.

    update(snapshot) recomputes only the Services whose ServiceView changed (Snapshots share
    unchanged views): a reload that touches one Service costs one Service. The names of
    different Services never collide (each lives under its own <svc>.<ns>.svc.<zone>); what
    they share, namespace names and reverse names, is counted and ordered."""

    def __init__(self, domain: str, snapshot: Snapshot | None = None, ns_addresses: tuple[str, ...] = ()):
        self.origin = domain.strip(".").lower() + "."
        self.names: dict[str, Node] = {}
        self.reverse: dict[str, tuple[str, ...]] = {}     # "10.0.96.10.in-addr.arpa." -> PTR targets
        self.serial = int(time.time())                     # CoreDNS: the time of the last change
        o = self.origin
        for ent in (o, "svc." + o, "pod." + o):
            self.names[ent] = EMPTY
        self.names["dns-version." + o] = Node(txt=(SCHEMA_VERSION,))
        self.names["ns.dns." + o] = Node(entries=tuple(Entry(ip, NO_PORT, "ns.dns." + o) for ip in ns_addresses))
        self._views: dict[str, object] = {}
        self._snapshot = None                              # the one followed last (Snapshot.changes)
        self._parts: dict[str, _Part] = {}
        self._namespace_refs: dict[str, int] = {}
        self._namespaces = None                            # the Snapshot's namespaces tuple, as last seen
        self._cluster_ptr: dict[str, list[tuple[tuple[str, str], str]]] = {}
        self._endpoint_ptr: dict[str, list[tuple[tuple[str, str], tuple[str, ...]]]] = {}
        if snapshot is not None:
            self.update(snapshot)

    def update(self, snapshot: Snapshot) -> bool:
        """Follows snapshot; True when anything the zone answers changed."""
        changed = False
        if snapshot.namespaces is not self._namespaces:
            old = {ns.name for ns in self._namespaces or ()}
            new = {ns.name for ns in snapshot.namespaces}
            for name in old - new:
                changed |= self._namespace(name, -1)
            for name in new - old:
                changed |= self._namespace(name, +1)
            self._namespaces = snapshot.namespaces
        changes = snapshot.changes
        if changes is not None and self._snapshot is not None and changes.base == id(self._snapshot):
            # the Snapshot says which views changed since the one this zone followed last
            views = {key: view for key, view in changes.views.items() if view is not None}
            gone = [key for key, view in changes.views.items() if view is None and key in self._views]
        else:
            views = {view.service.key: view for view in snapshot.services}
            gone = [k for k in self._views if k not in views]
        self._snapshot = snapshot
        portless = _PortlessEndpoints(snapshot)
        dirty_ptr: set[str] = set()
        for key in gone:
            self._remove(key, dirty_ptr)
            changed = True
        for key, view in views.items():
            if self._views.get(key) is view:
                continue
            old = self._parts.get(key)
            if old is not None:
                self._remove(key, dirty_ptr)
            part = _service_part(view, self.origin, portless)
            self._add(key, view, part, dirty_ptr)
            changed |= old is None or old.names != part.names or old.ptr != part.ptr
        for rev in dirty_ptr:
            self._settle_reverse(rev)
        if changed:
            self.serial = int(time.time())
        return changed

    def same_records(self, other: "Zone") -> bool:
        return self.names == other.names and self.reverse == other.reverse

    def _namespace(self, name: str, delta: int) -> bool:
        owner = f"{name}.svc.{self.origin}".lower()
        refs = self._namespace_refs.get(owner, 0) + delta
        if refs > 0:
            self._namespace_refs[owner] = refs
            if owner not in self.names:
                self.names[owner] = EMPTY
                return True
            return False
        self._namespace_refs.pop(owner, None)
        return self.names.pop(owner, None) is not None

    def _add(self, key: str, view, part: "_Part", dirty_ptr: set[str]) -> None:
        self._views[key] = view
        self._parts[key] = part
        self.names.update(part.names)
        self._namespace(part.namespace, +1)
        for rev, target in part.cluster_ptr:
            bisect.insort(self._cluster_ptr.setdefault(rev, []), (part.order, target))
            dirty_ptr.add(rev)
        for rev, targets in part.endpoint_ptr:
            bisect.insort(self._endpoint_ptr.setdefault(rev, []), (part.order, targets))
            dirty_ptr.add(rev)

    def _remove(self, key: str, dirty_ptr: set[str]) -> None:
        part = self._parts.pop(key)
        del self._views[key]
        for name in part.names:
            self.names.pop(name, None)
        self._namespace(part.namespace, -1)
        for table, claims in ((self._cluster_ptr, part.cluster_ptr), (self._endpoint_ptr, part.endpoint_ptr)):
            for rev, _value in claims:
                owners = table[rev]
                owners[:] = [o for o in owners if o[0] != part.order]
                if not owners:
                    del table[rev]
                dirty_ptr.add(rev)

    def _settle_reverse(self, rev: str) -> None:
        """A clusterIP names its first Service (in Snapshot order); an address that is no
        clusterIP names every ready endpoint with it, Services in order (CoreDNS's search)."""
        owners = self._cluster_ptr.get(rev)
        if owners:
            self.reverse[rev] = (owners[0][1],)
            return
        targets = tuple(dict.fromkeys(t for _order, ts in self._endpoint_ptr.get(rev, ()) for t in ts))
        if targets:
            self.reverse[rev] = targets
        else:
            self.reverse.pop(rev, None)


class _Part(NamedTuple):
    """What one Service puts in the zone."""
    order: tuple[str, str]                              # (namespace, name): Snapshot order
    namespace: str
    names: dict
    cluster_ptr: tuple[tuple[str, str], ...]            # (reverse name, the Service's name)
    endpoint_ptr: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def ptr(self) -> tuple:
        return (self.cluster_ptr, self.endpoint_ptr)


def _service_part(view, origin: str, portless: "_PortlessEndpoints") -> _Part:
    svc = view.service
    names: dict[str, Node] = {}
    base = f"{svc.name}.{svc.namespace}.svc.{origin}".lower()
    cluster_ptr, endpoint_ptr = [], {}
    if svc.type == EXTERNAL_NAME:
        _add_external_name(names, base, svc.external_name or "")
        return _Part((svc.namespace, svc.name), svc.namespace, names, (), ())
    ready = _ready_endpoints(view) if svc.ports else portless.of(svc)
    by_target: dict[str, list[Entry]] = {}
    pairs = []          # (entry, port name, protocol): what <base> answers
    for ip, port, port_name, protocol, hostname in ready:
        target = f"{hostname}.{base}"
        entry = Entry(ip, port, target)
        by_target.setdefault(target, []).append(entry)
        pairs.append((entry, port_name, protocol))
        targets = endpoint_ptr.setdefault(ip, [])
        if target not in targets:
            targets.append(target)
    for target, entries in by_target.items():
        names[target] = Node(entries=tuple(entries))
    if not svc.headless:
        cluster_ips = svc.cluster_ips or ((svc.cluster_ip,) if svc.cluster_ip else ())
        pairs = [(Entry(ip, sp.port, base), sp.name, sp.protocol) for sp in svc.ports for ip in cluster_ips]
        for ip in cluster_ips:
            rev = _reverse_name(ip)
            if rev:
                cluster_ptr.append((rev, base))
    if pairs:       # none: a headless Service without ready endpoints is NXDOMAIN
        names[base] = Node(entries=tuple(e for e, _, _ in pairs))
        _add_srv(names, base, pairs)
    endpoint_claims = tuple((rev, tuple(ts)) for ip, ts in endpoint_ptr.items() if (rev := _reverse_name(ip)))
    return _Part((svc.namespace, svc.name), svc.namespace, names, tuple(cluster_ptr), endpoint_claims)


def _add_external_name(names: dict, base: str, external_name: str) -> None:
    target = external_name.strip(".").lower()
    if not target:
        return
    if is_ip(target):
        names[base] = Node(entries=(Entry(target, NO_PORT, base),))
    else:
        names[base] = Node(cname=target + ".")


def _add_srv(names: dict, base: str, pairs) -> None:
    """_<port>._<proto>.<base> for each named port: the entries of that port."""
    by_name: dict[str, list[Entry]] = {}
    for entry, port_name, protocol in pairs:
        if port_name and entry.port != NO_PORT:
            by_name.setdefault(f"_{port_name}._{protocol}.{base}".lower(), []).append(entry)
    for name, entries in by_name.items():
        names[name] = Node(entries=tuple(entries))


class _PortlessEndpoints:
    """Ready addresses of Services without ports, from the Snapshot's EndpointSets (indexed
    only when such a Service is met)."""

    def __init__(self, snapshot: Snapshot):
        self._snapshot = snapshot
        self._by_service: dict[tuple[str, str], list] | None = None

    def of(self, svc) -> list[tuple[str, int, str, str, str]]:
        if self._by_service is None:
            self._by_service = {}
            for es in self._snapshot.endpoint_sets:
                self._by_service.setdefault((es.namespace, es.service_name), []).append(es)
        out, seen = [], set()
        for es in self._by_service.get((svc.namespace, svc.name), ()):
            for addr in es.addresses:
                if (addr.ready or svc.publish_not_ready_addresses) and addr.ip not in seen:
                    seen.add(addr.ip)
                    out.append((addr.ip, NO_PORT, "", "", endpoint_hostname(addr.ip, addr.hostname)))
        return out


def _ready_endpoints(view) -> list[tuple[str, int, str, str, str]]:
    """(ip, port, port name, protocol, hostname) of every ready endpoint, per Service port."""
    return [(ep.ip, ep.port if ep.port is not None else NO_PORT, rp.port.name, rp.port.protocol,
             endpoint_hostname(ep.ip, ep.hostname))
            for rp in view.ports for ep in rp.endpoints if ep.ready]


def endpoint_hostname(ip: str, hostname: str | None) -> str:
    """The endpoint's hostname, else its IP with dashes (CoreDNS's endpointHostname)."""
    if hostname:
        return hostname.lower()
    if "." in ip:
        return ip.replace(".", "-")
    dashed = ip.replace(":", "-").lower()
    return dashed + "0" if dashed.endswith("-") else dashed


def _reverse_name(ip: str) -> str | None:
    """The in-addr.arpa / ip6.arpa name of ip (validated IPv4 text is reversed as is: fast)."""
    if ":" not in ip:
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."
    try:
        return ipaddress.ip_address(ip).reverse_pointer.lower() + "."
    except ValueError:
        return None
