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
    """The index of one zone (`cluster.local`) plus the reverse names of its addresses."""

    def __init__(self, domain: str, snapshot: Snapshot | None = None, ns_addresses: tuple[str, ...] = ()):
        self.origin = domain.strip(".").lower() + "."
        self.names: dict[str, Node] = {}
        self.reverse: dict[str, tuple[str, ...]] = {}     # "10.0.96.10.in-addr.arpa." -> PTR targets
        self.serial = int(time.time())                     # CoreDNS: the time of the last change
        self._ns_addresses = ns_addresses
        self._build(snapshot)

    def same_records(self, other: "Zone") -> bool:
        return self.names == other.names and self.reverse == other.reverse

    def _build(self, snapshot: Snapshot | None) -> None:
        o = self.origin
        names = self.names
        for ent in (o, "svc." + o, "pod." + o):
            names[ent] = EMPTY
        names["dns-version." + o] = Node(txt=(SCHEMA_VERSION,))
        names["ns.dns." + o] = Node(entries=tuple(Entry(ip, NO_PORT, "ns.dns." + o) for ip in self._ns_addresses))
        if snapshot is None:
            return
        for ns in snapshot.namespaces:
            names[f"{ns.name}.svc.{o}".lower()] = EMPTY
        portless = _PortlessEndpoints(snapshot)
        endpoint_ptrs: dict[str, list[str]] = {}
        for view in snapshot.services:
            svc = view.service
            names[f"{svc.namespace}.svc.{o}".lower()] = EMPTY
            base = f"{svc.name}.{svc.namespace}.svc.{o}".lower()
            if svc.type == EXTERNAL_NAME:
                self._add_external_name(base, svc.external_name or "")
                continue
            ready = _ready_endpoints(view) if svc.ports else portless.of(svc)
            by_target: dict[str, list[Entry]] = {}
            pairs = []          # (entry, port name, protocol): what <base> answers
            for ip, port, port_name, protocol, hostname in ready:
                target = f"{hostname}.{base}"
                entry = Entry(ip, port, target)
                by_target.setdefault(target, []).append(entry)
                pairs.append((entry, port_name, protocol))
                targets = endpoint_ptrs.setdefault(ip, [])
                if target not in targets:
                    targets.append(target)
            for target, entries in by_target.items():
                names[target] = Node(entries=tuple(entries))
            if not svc.headless:
                cluster_ips = svc.cluster_ips or ((svc.cluster_ip,) if svc.cluster_ip else ())
                pairs = [(Entry(ip, sp.port, base), sp.name, sp.protocol) for sp in svc.ports for ip in cluster_ips]
                for ip in cluster_ips:
                    key = _reverse_name(ip)
                    if key and key not in self.reverse:     # CoreDNS answers the first Service found
                        self.reverse[key] = (base,)
            if pairs:       # none: a headless Service without ready endpoints is NXDOMAIN
                names[base] = Node(entries=tuple(e for e, _, _ in pairs))
                self._add_srv(base, pairs)
        for ip, targets in endpoint_ptrs.items():
            key = _reverse_name(ip)
            if key and key not in self.reverse:
                self.reverse[key] = tuple(targets)

    def _add_external_name(self, base: str, external_name: str) -> None:
        target = external_name.strip(".").lower()
        if not target:
            return
        if is_ip(target):
            self.names[base] = Node(entries=(Entry(target, NO_PORT, base),))
        else:
            self.names[base] = Node(cname=target + ".")

    def _add_srv(self, base: str, pairs) -> None:
        """_<port>._<proto>.<base> for each named port: the entries of that port."""
        by_name: dict[str, list[Entry]] = {}
        for entry, port_name, protocol in pairs:
            if port_name and entry.port != NO_PORT:
                by_name.setdefault(f"_{port_name}._{protocol}.{base}".lower(), []).append(entry)
        for name, entries in by_name.items():
            self.names[name] = Node(entries=tuple(entries))


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
