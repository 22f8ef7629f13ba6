"""From a Snapshot to what should serve: keyed rows, nothing applied.

build_plan is pure but for IdMaps, which hands out ids that stay stable across
reloads (an sp_id per service port, an ep_id per endpoint of it, a listener id per
socket): the core keys its state by them, so a reload that keeps a Service keeps
its round-robin position, affinity entries and counters. This module is the one
place run-time defaults are applied (the scheduler, weights); lb.serve applies a
Plan to the kernel and the core.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lb.addresses import WILDCARD_V4, WILDCARD_V6, host_port, is_wildcard, wildcard_of
from lb.config.model import TCP
from lb.snapshot import FRONTEND_NODE_PORT, Snapshot

SCHEDULER = "rr"
FORWARD = "Masq"   # ipvs's word for NAT; a proxy rewrites both addresses, the closest fit
WEIGHT = 1

ListenerKey = tuple[str, int, str]   # (ip, port, protocol)
VirtualServerKey = tuple[str, str, int]   # (protocol, ip, port)


class IdMaps:
    """Ids stable across reloads: sp_id per (service, port name, protocol), ep_id per
    (sp_id, ip, port), listener id per (ip, port, protocol). Never reused in a run,
    so a stale id can never name something new."""

    def __init__(self):
        self._maps: dict[str, dict] = {"sp": {}, "ep": {}, "listener": {}}
        self._next = {"sp": 1, "ep": 1, "listener": 1}
        self._reverse: dict[str, dict] = {"sp": {}, "ep": {}, "listener": {}}

    def get(self, space: str, key) -> int:
        m = self._maps[space]
        ident = m.get(key)
        if ident is None:
            ident = m[key] = self._next[space]
            self._reverse[space][ident] = key
            self._next[space] += 1
        return ident

    def sp(self, service: str, port_name: str, protocol: str) -> int:
        return self.get("sp", (service, port_name, protocol))

    def ep(self, sp_id: int, ip: str, port: int) -> int:
        return self.get("ep", (sp_id, ip, port))

    def listener(self, key: ListenerKey) -> int:
        return self.get("listener", key)

    def key_of(self, space: str, ident: int):
        """The key an id was given for, or None (for counters of things gone from the table)."""
        return self._reverse[space].get(ident)


@dataclass(frozen=True)
class RealServer:
    ep_id: int
    ip: str
    port: int
    weight: int = WEIGHT


@dataclass(frozen=True)
class VirtualServer:
    """One served address:port/protocol, as ipvsadm lists a virtual server."""
    protocol: str
    ip: str                  # 0.0.0.0 / :: for a nodePort on every address
    port: int
    kind: str                # lb.snapshot.FRONTEND_*
    service: str
    port_name: str
    sp_id: int
    persistence: int         # ClientIP affinity timeout, 0 = none
    listener: ListenerKey    # the socket that accepts it
    real_servers: tuple[RealServer, ...]

    @property
    def key(self) -> VirtualServerKey:
        return (self.protocol, self.ip, self.port)

    @property
    def address(self) -> str:
        return host_port(self.ip, self.port)


@dataclass(frozen=True)
class NotServed:
    frontend: str            # "10.96.0.10:53/UDP"
    service: str
    reason: str


@dataclass
class Plan:
    """Keyed rows: what lb.serve makes true. The core's table is `rows` + `frontends`
    (docs/internals.md); everything else is for listeners, addresses and reports."""
    virtual_servers: dict[VirtualServerKey, VirtualServer] = field(default_factory=dict)
    listeners: dict[ListenerKey, int] = field(default_factory=dict)     # key -> listener id
    addresses: dict[str, list[str]] = field(default_factory=dict)       # VIP -> services needing it
    not_served: list[NotServed] = field(default_factory=list)
    rows: dict[int, tuple] = field(default_factory=dict)                # sp_id -> core table row
    frontends: list[tuple] = field(default_factory=list)                # core table frontends

    def table(self) -> dict:
        """The core's table (docs/internals.md)."""
        return {"service_ports": list(self.rows.values()), "frontends": self.frontends}


def sp_name(service: str, port_name: str, protocol: str) -> str:
    return f"{service}:{port_name}/{protocol}" if port_name else f"{service}/{protocol}"


def build_plan(snapshot: Snapshot, ids: IdMaps, node_addresses: tuple[str, ...] = (WILDCARD_V4, WILDCARD_V6)) -> Plan:
    """What should serve for snapshot. node_addresses: where node ports listen
    (wildcards or specific local addresses). Only TCP is served; UDP and SCTP ports
    and ExternalName Services are listed in not_served."""
    plan = Plan()
    claimed: dict[ListenerKey, str] = {}
    views = list(snapshot.service_ports())
    # A specific address on a port that a wildcard node-port socket holds can't get
    # its own socket (EADDRINUSE): the wildcard serves it, found by local address.
    node_ports = {fe.port for spv in views for fe in spv.frontends
                  if fe.kind == FRONTEND_NODE_PORT and fe.protocol == TCP}
    wildcard_ports = {(ip, port) for ip in node_addresses if is_wildcard(ip) for port in node_ports}

    for view in snapshot.services:
        svc = view.service
        if svc.type == "ExternalName":
            plan.not_served.append(NotServed(f"{svc.external_name or ''}", svc.key,
                                             "ExternalName is not served yet (DNS only)"))
        elif svc.headless:
            plan.not_served.append(NotServed("clusterIP: None", svc.key,
                                             "headless Service: no virtual server, clients use the endpoints"))
    for spv in views:
        svc = spv.service
        if spv.protocol != TCP:
            for fe in spv.frontends:
                where = f"{host_port(fe.ip, fe.port) if fe.ip else ':' + str(fe.port)}/{fe.protocol}"
                plan.not_served.append(NotServed(where, fe.service, f"{fe.protocol} is not served yet"))
            continue
        if not spv.frontends:
            continue
        sp_id = ids.sp(svc.key, spv.port_name, spv.protocol)
        reals = tuple(RealServer(ids.ep(sp_id, e.ip, e.port), e.ip, e.port) for e in spv.usable)
        plan.rows[sp_id] = (sp_id, sp_name(svc.key, spv.port_name, spv.protocol), SCHEDULER, svc.affinity_timeout,
                            tuple((r.ep_id, r.ip, r.port, r.weight) for r in reals))
        for fe in spv.frontends:
            if fe.kind == FRONTEND_NODE_PORT:
                places = [(ip, (ip, fe.port, TCP)) for ip in node_addresses]
            else:
                wild = wildcard_of(fe.ip)
                listener = (wild, fe.port, TCP) if (wild, fe.port) in wildcard_ports else (fe.ip, fe.port, TCP)
                places = [(fe.ip, listener)]
                services = plan.addresses.setdefault(fe.ip, [])
                if fe.service not in services:
                    services.append(fe.service)
            for ip, listener in places:
                key = (ip, fe.port, TCP)
                owner = claimed.get(key)
                if owner is not None:
                    plan.not_served.append(NotServed(f"{host_port(ip, fe.port)}/TCP", fe.service,
                                                     f"{host_port(ip, fe.port)} is already served for {owner}"))
                    continue
                claimed[key] = fe.service
                lid = plan.listeners[listener] = ids.listener(listener)
                vs = VirtualServer(TCP, ip, fe.port, fe.kind, fe.service, fe.port_name, sp_id,
                                   svc.affinity_timeout, listener, reals)
                plan.virtual_servers[vs.key] = vs
                # A wildcard listener needs the local address to find the frontend;
                # "" there means any address (a nodePort). A specific listener is its frontend.
                local_ip = ip if is_wildcard(listener[0]) and not is_wildcard(ip) else ""
                entry = (lid, local_ip, fe.port, sp_id)
                if entry not in plan.frontends:
                    plan.frontends.append(entry)
    return plan


def diff_summary(old: Plan | None, new: Plan) -> dict:
    """Counts for the one-line reload log."""
    old_vs = old.virtual_servers if old else {}
    new_vs = new.virtual_servers
    old_rows = old.rows if old else {}
    old_eps = {(sp, r[0]) for sp, row in old_rows.items() for r in row[4]}
    new_eps = {(sp, r[0]) for sp, row in new.rows.items() for r in row[4]}
    changed = sum(1 for k in new_vs.keys() & old_vs.keys()
                  if old_rows.get(old_vs[k].sp_id) != new.rows.get(new_vs[k].sp_id))
    old_l = set(old.listeners) if old else set()
    return {
        "virtual_servers": len(new_vs),
        "added": len(new_vs.keys() - old_vs.keys()),
        "removed": len(old_vs.keys() - new_vs.keys()),
        "changed": changed,
        "endpoints_added": len(new_eps - old_eps),
        "endpoints_removed": len(old_eps - new_eps),
        "listeners_added": len(set(new.listeners) - old_l),
        "listeners_removed": len(old_l - set(new.listeners)),
    }
