"""From a Snapshot to what serves: per-file last-good content, stable ids, the
listener set, the core's table, and the diff between two of them.

Nothing here touches the kernel or the core; lb.control applies the Plan.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from lb.addresses import host_port
from lb.config.model import AFFINITY_CLIENT_IP, DEFAULT_AFFINITY_TIMEOUT, TCP
from lb.listeners import WILDCARD_V4, WILDCARD_V6, is_wildcard
from lb.snapshot import FRONTEND_NODE_PORT, Snapshot

SCHEDULER = "rr"
FORWARD = "Masq"   # ipvs's word for NAT; a proxy rewrites both addresses, the closest fit
WEIGHT = 1

ListenerKey = tuple[str, int, str]   # (ip, port, protocol)


def errors_of(result) -> list:
    return [d for d in result.diagnostics if d.severity == "error"]


class FileBook:
    """The FileResult in force for each manifest file.

    A file whose new content has errors keeps its previous content in force (the
    invariant "a bad reload changes nothing that serves"); a file seen for the
    first time, or whose content in force already had errors, takes the new
    result, whose valid objects serve (kube-proxy skips invalid objects).
    """

    def __init__(self):
        self.in_force: dict = {}

    def update(self, results: list) -> tuple[list, list]:
        """results: FileResults of every file now present. Returns (in force, rejected)."""
        chosen, rejected = {}, []
        for r in results:
            old = self.in_force.get(r.path)
            if errors_of(r) and old is not None and not errors_of(old) and r != old:
                chosen[r.path] = old
                rejected.append(r)
            else:
                chosen[r.path] = r
        self.in_force = chosen
        return list(chosen.values()), rejected

    def revert(self, path: str, previous) -> None:
        self.in_force[path] = previous


class IdMaps:
    """Ids stable across reloads: sp_id per (service, port name, protocol), ep_id per
    (sp_id, ip, port), listener id per (ip, port, protocol). Never reused in a run,
    so a stale id can never name something new."""

    def __init__(self):
        self._maps: dict[str, dict] = {"sp": {}, "ep": {}, "listener": {}}
        self._next = {"sp": 1, "ep": 1, "listener": 1}
        self._reverse: dict[str, dict] = {}

    def get(self, space: str, key) -> int:
        m = self._maps[space]
        if key not in m:
            m[key] = self._next[space]
            self._next[space] += 1
        return m[key]

    def sp(self, service: str, port_name: str, protocol: str) -> int:
        return self.get("sp", (service, port_name, protocol))

    def ep(self, sp_id: int, ip: str, port: int) -> int:
        return self.get("ep", (sp_id, ip, port))

    def listener(self, key: ListenerKey) -> int:
        return self.get("listener", key)

    def key_of(self, space: str, ident: int):
        """The key an id was given for, or None (for counters of things gone from the table)."""
        rev = self._reverse.setdefault(space, {})
        if len(rev) != len(self._maps[space]):
            rev.update({v: k for k, v in self._maps[space].items()})
        return rev.get(ident)


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
    def address(self) -> str:
        return host_port(self.ip, self.port)


@dataclass(frozen=True)
class NotServed:
    frontend: str            # "10.96.0.10:53/UDP"
    service: str
    reason: str


@dataclass
class Plan:
    virtual_servers: list[VirtualServer] = field(default_factory=list)
    listeners: dict[ListenerKey, int] = field(default_factory=dict)   # key -> listener id
    addresses: dict[str, list[str]] = field(default_factory=dict)     # VIP -> services needing it
    not_served: list[NotServed] = field(default_factory=list)
    service_ports: dict[int, tuple] = field(default_factory=dict)     # sp_id -> table row

    def table(self, drop: set[ListenerKey] = frozenset()) -> dict:
        """The core's table (docs/internals.md), leaving out frontends of listeners in drop."""
        frontends = []
        for vs in self.virtual_servers:
            if vs.listener in drop:
                continue
            lid = self.listeners[vs.listener]
            # A wildcard listener needs the local address to find the frontend;
            # "" there means any address (a nodePort). A specific listener is its frontend.
            local_ip = vs.ip if is_wildcard(vs.listener[0]) and not is_wildcard(vs.ip) else ""
            entry = (lid, local_ip, vs.port, vs.sp_id)
            if entry not in frontends:
                frontends.append(entry)
        return {"service_ports": list(self.service_ports.values()), "frontends": frontends}


def sp_name(service: str, port_name: str, protocol: str) -> str:
    return f"{service}:{port_name}/{protocol}" if port_name else f"{service}/{protocol}"


def affinity_of(svc) -> int:
    if svc.session_affinity != AFFINITY_CLIENT_IP:
        return 0
    return svc.affinity_timeout or DEFAULT_AFFINITY_TIMEOUT


def build_plan(snapshot: Snapshot, ids: IdMaps, nodeport_ips: tuple[str, ...] = (WILDCARD_V4, WILDCARD_V6)) -> Plan:
    """What should serve for snapshot. nodeport_ips: the addresses node ports listen on
    (wildcards or specific local addresses). Only TCP is served; UDP and SCTP ports
    and ExternalName Services are listed in not_served."""
    plan = Plan()
    claimed: dict[ListenerKey, str] = {}
    # A specific address on a port that a wildcard node-port socket holds can't get
    # its own socket (EADDRINUSE): the wildcard serves it, found by local address.
    node_ports = {fe.port for fe, _rp, _v in snapshot.frontends()
                  if fe.kind == FRONTEND_NODE_PORT and fe.protocol == TCP}
    wildcard_ports = {(ip, port) for ip in nodeport_ips if is_wildcard(ip) for port in node_ports}

    for view in snapshot.services:
        svc = view.service
        if svc.type == "ExternalName":
            plan.not_served.append(NotServed(f"{svc.external_name or ''}", svc.key,
                                             "ExternalName is not served yet (DNS only)"))
        elif svc.headless:
            plan.not_served.append(NotServed("clusterIP: None", svc.key,
                                             "headless Service: no virtual server, clients use the endpoints"))
    for fe, rp, view in snapshot.frontends():
        svc = view.service
        if fe.protocol != TCP:
            where = f"{host_port(fe.ip, fe.port) if fe.ip else ':' + str(fe.port)}/{fe.protocol}"
            plan.not_served.append(NotServed(where, fe.service, f"{fe.protocol} is not served yet"))
            continue
        sp_id = ids.sp(fe.service, fe.port_name, fe.protocol)
        if sp_id not in plan.service_ports:
            reals = tuple(RealServer(ids.ep(sp_id, e.ip, e.port), e.ip, e.port) for e in rp.usable)
            plan.service_ports[sp_id] = (sp_id, sp_name(fe.service, fe.port_name, fe.protocol), SCHEDULER,
                                         affinity_of(svc), tuple((r.ep_id, r.ip, r.port, r.weight) for r in reals))
        reals = tuple(RealServer(ep, ip, port, w) for ep, ip, port, w in plan.service_ports[sp_id][4])
        if fe.kind == FRONTEND_NODE_PORT:
            places = [(ip, (ip, fe.port, TCP)) for ip in nodeport_ips]
        else:
            wild = WILDCARD_V6 if ":" in fe.ip else WILDCARD_V4
            listener = (wild, fe.port, TCP) if (wild, fe.port) in wildcard_ports else (fe.ip, fe.port, TCP)
            places = [(fe.ip, listener)]
            plan.addresses.setdefault(fe.ip, [])
            if fe.service not in plan.addresses[fe.ip]:
                plan.addresses[fe.ip].append(fe.service)
        for ip, listener in places:
            key = (ip, fe.port, TCP)
            owner = claimed.get(key)
            if owner is not None:
                plan.not_served.append(NotServed(f"{host_port(ip, fe.port)}/TCP", fe.service,
                                                 f"{host_port(ip, fe.port)} is already served for {owner}"))
                continue
            claimed[key] = fe.service
            plan.listeners[listener] = ids.listener(listener)
            plan.virtual_servers.append(VirtualServer(TCP, ip, fe.port, fe.kind, fe.service, fe.port_name,
                                                      sp_id, affinity_of(svc), listener, reals))
    return plan


def diff_summary(old: Plan | None, new: Plan) -> dict:
    """Counts for the one-line reload log."""
    old_vs = {(v.protocol, v.ip, v.port): v for v in (old.virtual_servers if old else [])}
    new_vs = {(v.protocol, v.ip, v.port): v for v in new.virtual_servers}
    old_eps = {(sp, r[0]) for sp, row in (old.service_ports.items() if old else []) for r in row[4]}
    new_eps = {(sp, r[0]) for sp, row in new.service_ports.items() for r in row[4]}
    changed = sum(1 for k in new_vs.keys() & old_vs.keys()
                  if old.service_ports.get(old_vs[k].sp_id) != new.service_ports.get(new_vs[k].sp_id))
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


def manifest_files_changed(changes, roots: list[str]) -> bool:
    """Whether a watchfiles change set touches a manifest: a file named on the command
    line, or a *.yaml/*.yml/*.json under a folder named there."""
    files = {os.path.abspath(r) for r in roots if not os.path.isdir(r)}
    dirs = [os.path.abspath(r) + os.sep for r in roots if os.path.isdir(r)]
    for _change, path in changes:
        p = os.path.abspath(path)
        if p in files:
            return True
        if p.endswith((".yaml", ".yml", ".json")) and any(p.startswith(d) for d in dirs):
            return True
    return False
