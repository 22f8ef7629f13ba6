"""From a Snapshot to what should serve: keyed rows, nothing applied.

A Planner keeps the plan of each Service it saw and, given the next Snapshot, re-plans only
the Services whose ServiceView changed (Snapshots share unchanged views, so identity says
what changed): a reload that touches one Service costs one Service, whatever their number.
The result is the same as planning everything again (tests compare the two).

Ids come from IdMaps and stay stable across reloads (an sp_id per service port, an ep_id per
endpoint of it, a listener id per socket): the core keys its state by them, so a reload that
keeps a Service keeps its round-robin position, affinity entries and counters. This module is
the one place run-time defaults are applied (the scheduler, weights); lb.serve applies a Plan
to the kernel and the core.

Which socket accepts a frontend: node ports listen on each node address (the wildcards by
default). A VIP on a port that has a wildcard socket of its family rides it, found by local
address; with share_vip_ports (VIPs made local by routes, not addresses) every VIP that is
not loopback does, so listeners grow with ports, not with VIPs. Other VIPs get a socket each.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple

from lb.addresses import WILDCARD_V4, WILDCARD_V6, host_port, ip_version, is_loopback, is_wildcard, wildcard_of
from lb.config.model import EXTERNAL_NAME, TCP
from lb.settings import DEFAULT_SCHEDULER   # --ipvs-scheduler's; lb.io/scheduler overrides it
from lb.snapshot import FRONTEND_NODE_PORT, ServiceView, Snapshot

FORWARD = "Masq"   # ipvs's word for NAT; a proxy rewrites both addresses, the closest fit
WEIGHT = 1

ListenerKey = tuple[str, int, str]        # (ip, port, protocol)
VirtualServerKey = tuple[str, str, int]   # (protocol, ip, port)


class IdMaps:
    """Ids stable across reloads: sp_id per (service, port name, protocol, family), ep_id per
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

    def sp(self, service: str, port_name: str, protocol: str, family: int = 0) -> int:
        """family: 4 or 6 (kube-proxy's proxiers are per family, so are rows), 0: any."""
        return self.get("sp", (service, port_name, protocol, family))

    def ep(self, sp_id: int, ip: str, port: int) -> int:
        return self.get("ep", (sp_id, ip, port))

    def listener(self, key: ListenerKey) -> int:
        return self.get("listener", key)

    def key_of(self, space: str, ident: int):
        """The key an id was given for, or None (for counters of things gone from the table)."""
        return self._reverse[space].get(ident)


class RealServer(NamedTuple):
    """One endpoint of a virtual server; also, as it is, the core row's endpoint tuple
    (ep_id, ip, port, weight): a plan holds each endpoint once."""
    ep_id: int
    ip: str
    port: int
    weight: int = WEIGHT


@dataclass(frozen=True, slots=True)
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
    scheduler: str = DEFAULT_SCHEDULER

    @property
    def key(self) -> VirtualServerKey:
        return (self.protocol, self.ip, self.port)

    @property
    def address(self) -> str:
        return host_port(self.ip, self.port)


@dataclass(frozen=True, slots=True)
class NotServed:
    frontend: str            # "10.96.0.10:53/UDP"
    service: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Keyed rows: what lb.serve makes true, read-only. The core's table is `rows` +
    `frontends` (docs/internals.md); everything else is for listeners, addresses, reports."""
    virtual_servers: Mapping[VirtualServerKey, VirtualServer] = field(default_factory=dict)
    listeners: Mapping[ListenerKey, int] = field(default_factory=dict)         # key -> listener id
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)      # VIP -> services needing it
    not_served: tuple[NotServed, ...] = ()
    unresolved: Mapping[str, str] = field(default_factory=dict)   # ExternalName service -> why it has no address
    rows: Mapping[int, tuple] = field(default_factory=dict)                     # sp_id -> core table row
    frontends: tuple[tuple, ...] = ()                      # core table frontends
    summary: Mapping[str, int] = field(default_factory=dict)                    # what changed since the plan before
    touched: frozenset[VirtualServerKey] = frozenset()     # virtual servers placed or removed by this update

    def table(self) -> dict:
        """The core's table (docs/internals.md)."""
        return {"service_ports": list(self.rows.values()), "frontends": list(self.frontends)}


def sp_name(service: str, port_name: str, protocol: str) -> str:
    return f"{service}:{port_name}/{protocol}" if port_name else f"{service}/{protocol}"


def build_plan(snapshot: Snapshot, ids: IdMaps, node_addresses: tuple[str, ...] = (WILDCARD_V4, WILDCARD_V6),
               share_vip_ports: bool = False, scheduler: str = DEFAULT_SCHEDULER) -> Plan:
    """The plan of snapshot from scratch (offline uses, tests)."""
    return Planner(ids, node_addresses, share_vip_ports, scheduler).update(snapshot)


@dataclass(frozen=True, slots=True)
class _Frontend:
    """A frontend of a service's part: where it listens (ip: a node address for node ports)."""
    kind: str
    ip: str
    port: int
    protocol: str
    port_name: str
    sp_id: int
    persistence: int
    reals: tuple[RealServer, ...]
    scheduler: str


@dataclass
class _Part:
    """What one Service contributes, computed from its ServiceView (and, for ExternalName,
    the addresses its name has) alone."""
    order: tuple[str, str]                     # (namespace, name): who wins a claimed address:port
    rows: dict[int, tuple] = field(default_factory=dict)
    frontends: list[_Frontend] = field(default_factory=list)
    not_served: list[NotServed] = field(default_factory=list)
    vips: tuple[str, ...] = ()
    name: str = ""                             # ExternalName served: the name it forwards to
    unresolved: str | None = None              # ... and why that name has no address yet


# name -> (addresses in force or None when it never resolved, why not); lb.sources.externalname
NameLookup = Callable[[str], tuple["tuple[str, ...] | None", "str | None"]]


def _no_names(_name: str):
    return None, "names are not resolved here"


def external_name_key(name: str | None) -> str:
    """The name an ExternalName Service forwards to, as resolvers key it."""
    return (name or "").strip().rstrip(".").lower()


class Planner:
    """Plans Snapshots one after another, touching only what changed."""

    def __init__(self, ids: IdMaps, node_addresses: tuple[str, ...] = (WILDCARD_V4, WILDCARD_V6),
                 share_vip_ports: bool = False, scheduler: str = DEFAULT_SCHEDULER,
                 names: NameLookup = _no_names):
        self.ids = ids
        self.names = names                  # ExternalName targets' addresses (names_changed re-plans)
        self.scheduler = scheduler          # for Services without lb.io/scheduler
        self.node_addresses = tuple(node_addresses)
        self.share_vip_ports = share_vip_ports
        self._views: dict[str, ServiceView] = {}
        self._parts: dict[str, _Part] = {}
        self._rows: dict[int, tuple] = {}
        self._claims: dict[ListenerKey, list[tuple[tuple[str, str], int, str, _Frontend]]] = {}
        self._by_port: dict[tuple[int, str], set[ListenerKey]] = {}       # (port, proto) -> claimed keys
        self._wild_votes: dict[ListenerKey, int] = {}                     # wildcard socket -> frontends asking
        self._node_votes: dict[ListenerKey, int] = {}                     # ... of which node ports
        self._no_wildcard: set[ListenerKey] = set()                       # VIP-only wildcards that can't bind
        self._placed: dict[ListenerKey, tuple] = {}                       # claim key -> (vs, listener, entry)
        self._virtual_servers: dict[VirtualServerKey, VirtualServer] = {}
        self._contested: set[ListenerKey] = set()                         # claimed by more than one
        self._listeners: dict[ListenerKey, int] = {}                      # key -> refcount
        self._frontends: dict[tuple, int] = {}                            # core entry -> refcount
        self._addresses: dict[str, tuple[str, ...]] = {}                  # VIP -> services, sorted
        self._not_served_keys: list[tuple[str, str]] = []                 # sorted orders with not_served
        self._forced: set[ListenerKey] = set()                            # claims to place again
        self._by_name: dict[str, set[str]] = {}                           # ExternalName target -> services
        self._stale: set[str] = set()                                     # services to re-plan anyway
        self._snapshot: Snapshot | None = None                            # the one planned last
        self._plan: Plan | None = None

    def names_changed(self, names) -> bool:
        """The addresses of these names changed: the ExternalName Services forwarding to them
        are planned again at the next update. True when there is such a Service."""
        before = len(self._stale)
        for name in names:
            self._stale |= self._by_name.get(external_name_key(name), set())
        return len(self._stale) > before

    def external_names(self) -> set[str]:
        """The names ExternalName Services with ports forward to (what a resolver keeps)."""
        return set(self._by_name)

    # -- the whole -----------------------------------------------------------------------
    def update(self, snapshot: Snapshot) -> Plan:
        dirty_claims: set[ListenerKey] = self._forced
        self._forced = set()
        old_eps: set[tuple[int, int]] = set()
        new_eps: set[tuple[int, int]] = set()
        stale, self._stale = self._stale, set()
        changes = snapshot.changes
        if changes is not None and self._snapshot is not None and changes.base == id(self._snapshot):
            # the Snapshot says what changed since the one planned last: look at nothing else
            views = {key: view for key, view in changes.views.items() if view is not None}
            gone = [key for key, view in changes.views.items() if view is None and key in self._views]
            views.update((key, self._views[key]) for key in stale if key in self._views and key not in views)
        else:
            views = {view.service.key: view for view in snapshot.services}
            gone = [k for k in self._views if k not in views]
        self._snapshot = snapshot
        for key in gone:
            old_eps |= _endpoint_ids(self._parts[key])
            self._remove(key, dirty_claims)
        for key, view in views.items():
            if self._views.get(key) is view and key not in stale:
                continue
            if key in self._views:
                old_eps |= _endpoint_ids(self._parts[key])
                self._remove(key, dirty_claims)
            self._add(key, view, dirty_claims)
            new_eps |= _endpoint_ids(self._parts[key])
        listeners_before = set(self._listeners)
        summary, touched = self._place(dirty_claims)
        summary.update(endpoints_added=len(new_eps - old_eps), endpoints_removed=len(old_eps - new_eps),
                       listeners_added=len(self._listeners.keys() - listeners_before),
                       listeners_removed=len(listeners_before - self._listeners.keys()))
        self._plan = self._publish(summary, touched)
        return self._plan

    def _publish(self, summary: dict, touched: frozenset) -> Plan:
        virtual_servers = dict(self._virtual_servers)
        not_served = tuple(n for order in self._not_served_keys
                           for n in self._parts[f"{order[0]}/{order[1]}"].not_served)
        not_served += tuple(n for key in sorted(self._contested) for n in _losers(self._claims[key]))
        summary = {"virtual_servers": len(virtual_servers), **summary}
        unresolved = {key: self._parts[key].unresolved for keys in self._by_name.values() for key in keys
                      if self._parts[key].unresolved}
        return Plan(virtual_servers=MappingProxyType(virtual_servers), unresolved=MappingProxyType(unresolved),
                    listeners=MappingProxyType({k: self.ids.listener(k) for k in self._listeners}),
                    addresses=MappingProxyType(dict(self._addresses)),
                    not_served=not_served, rows=MappingProxyType(dict(self._rows)),
                    frontends=tuple(self._frontends), summary=MappingProxyType(summary), touched=touched)

    # -- one Service ---------------------------------------------------------------------
    def _add(self, key: str, view: ServiceView, dirty: set[ListenerKey]) -> None:
        part = _plan_service(view, self.ids, self.node_addresses, self.scheduler, self.names)
        self._views[key] = view
        self._parts[key] = part
        if part.name:
            self._by_name.setdefault(part.name, set()).add(key)
        self._rows.update(part.rows)
        for index, fe in enumerate(part.frontends):
            claim_key = (fe.ip, fe.port, fe.protocol)
            claims = self._claims.setdefault(claim_key, [])
            bisect.insort(claims, (part.order, index, key, fe), key=lambda c: (c[0], c[1]))
            if len(claims) > 1:
                self._contested.add(claim_key)
            self._by_port.setdefault((fe.port, fe.protocol), set()).add(claim_key)
            self._vote(fe, +1, dirty)
            dirty.add(claim_key)
        for ip in part.vips:
            self._addresses[ip] = tuple(sorted((*self._addresses.get(ip, ()), key)))
        if part.not_served:
            bisect.insort(self._not_served_keys, part.order)

    def _remove(self, key: str, dirty: set[ListenerKey]) -> None:
        part = self._parts.pop(key)
        del self._views[key]
        if part.name:
            keys = self._by_name[part.name]
            keys.discard(key)
            if not keys:
                del self._by_name[part.name]
        for sp_id in part.rows:
            self._rows.pop(sp_id, None)
        for fe in part.frontends:
            claim_key = (fe.ip, fe.port, fe.protocol)
            claims = self._claims[claim_key]
            claims[:] = [c for c in claims if c[2] != key]
            if len(claims) < 2:
                self._contested.discard(claim_key)
            if not claims:
                del self._claims[claim_key]
                port_keys = self._by_port[(fe.port, fe.protocol)]
                port_keys.discard(claim_key)
                if not port_keys:
                    del self._by_port[(fe.port, fe.protocol)]
            self._vote(fe, -1, dirty)
            dirty.add(claim_key)
        for ip in part.vips:
            rest = tuple(k for k in self._addresses[ip] if k != key)
            if rest:
                self._addresses[ip] = rest
            else:
                del self._addresses[ip]
        if part.not_served:
            self._not_served_keys.remove(part.order)

    def _vote(self, fe: _Frontend, delta: int, dirty: set[ListenerKey]) -> None:
        """Counts the frontends that want a wildcard socket on their port; when that count
        goes from 0 to 1 or back, every VIP on the port changes socket."""
        if fe.kind == FRONTEND_NODE_PORT:
            if not is_wildcard(fe.ip):
                return
            wild = (fe.ip, fe.port, fe.protocol)
            node_votes = self._node_votes.get(wild, 0) + delta
            if node_votes:
                self._node_votes[wild] = node_votes
            else:
                self._node_votes.pop(wild, None)
        elif not self.share_vip_ports or is_loopback(fe.ip):
            return
        wild = (wildcard_of(fe.ip), fe.port, fe.protocol)
        votes = self._wild_votes.get(wild, 0) + delta
        if votes:
            self._wild_votes[wild] = votes
        else:
            self._wild_votes.pop(wild, None)
        if (votes == 0) or (votes == 1 and delta > 0):
            dirty.update(self._by_port.get((fe.port, fe.protocol), ()))

    # -- claims to virtual servers -------------------------------------------------------------
    def _place(self, dirty: set[ListenerKey]) -> tuple[dict[str, int], frozenset]:
        """(Re)places the claims of dirty keys: the first Service in order wins an address:port.
        Returns the counts of virtual servers added, removed and changed, and their keys."""
        added = removed = changed = 0
        touched = set()
        for claim_key in dirty:
            old = self._placed.pop(claim_key, None)
            if old is not None:
                self._release(old)
                touched.add(old[0].key)
                self._virtual_servers.pop(old[0].key, None)
            claims = self._claims.get(claim_key)
            if not claims:
                removed += old is not None
                continue
            _order, _index, service, fe = claims[0]
            listener = self._listener_of(fe)
            vs = VirtualServer(fe.protocol, fe.ip, fe.port, fe.kind, service, fe.port_name, fe.sp_id,
                               fe.persistence, listener, fe.reals, fe.scheduler)
            # A wildcard listener needs the local address to find the frontend; "" there means
            # any address (a nodePort). A specific listener is its frontend.
            local_ip = fe.ip if is_wildcard(listener[0]) and not is_wildcard(fe.ip) else ""
            entry = (self.ids.listener(listener), local_ip, fe.port, fe.sp_id)
            self._placed[claim_key] = (vs, listener, entry)
            self._virtual_servers[vs.key] = vs
            touched.add(vs.key)
            self._listeners[listener] = self._listeners.get(listener, 0) + 1
            self._frontends[entry] = self._frontends.get(entry, 0) + 1
            if old is None:
                added += 1
            elif old[0] != vs:
                changed += 1
        return {"added": added, "removed": removed, "changed": changed}, frozenset(touched)

    def _release(self, placed: tuple) -> None:
        _vs, listener, entry = placed
        for table, key in ((self._listeners, listener), (self._frontends, entry)):
            n = table[key] - 1
            if n:
                table[key] = n
            else:
                del table[key]

    def _listener_of(self, fe: _Frontend) -> ListenerKey:
        if fe.kind == FRONTEND_NODE_PORT:
            return (fe.ip, fe.port, fe.protocol)
        wild = (wildcard_of(fe.ip), fe.port, fe.protocol)
        if wild in self._wild_votes and (wild not in self._no_wildcard or wild in self._node_votes):
            return wild
        return (fe.ip, fe.port, fe.protocol)

    def avoid_wildcards(self, keys: set[ListenerKey]) -> bool:
        """Another program holds an address on these ports, so their wildcard sockets cannot
        bind: their VIPs go back to a socket each at the next update. True when that changes
        something (node ports still need the wildcard: they keep it and report the error)."""
        new = {k for k in keys if k not in self._no_wildcard and k not in self._node_votes}
        self._no_wildcard |= new
        for port_key in {(k[1], k[2]) for k in new}:
            self._forced.update(self._by_port.get(port_key, ()))
        return bool(new)


def _losers(claims) -> list[NotServed]:
    if len(claims) < 2:
        return []
    winner = claims[0][2]
    return [NotServed(f"{host_port(fe.ip, fe.port)}/{fe.protocol}", service,
                      f"{host_port(fe.ip, fe.port)} is already served for {winner}")
            for _order, _index, service, fe in claims[1:]]


def _endpoint_ids(part: _Part) -> set[tuple[int, int]]:
    return {(sp_id, ep[0]) for sp_id, row in part.rows.items() for ep in row[4]}


def _plan_service(view: ServiceView, ids: IdMaps, node_addresses: tuple[str, ...], scheduler: str,
                  names: NameLookup) -> _Part:
    """One Service's rows, frontends and reasons not to serve. Only TCP is served; UDP and
    SCTP ports are listed in not_served. An ExternalName Service with ports forwards to the
    addresses its name has (every one an endpoint, at targetPort); without ports it is DNS only."""
    svc = view.service
    part = _Part(order=(svc.namespace, svc.name))
    addresses: tuple[str, ...] = ()
    if svc.type == EXTERNAL_NAME:
        if not view.frontends:
            part.not_served.append(NotServed(f"{svc.external_name or ''}", svc.key,
                                             "ExternalName without ports: DNS answers a CNAME, nothing to forward"))
        else:
            part.name = external_name_key(svc.external_name)
            found, error = names(part.name)
            addresses = found or ()
            if found is None:
                part.unresolved = f"externalName {part.name} has no address yet: {error or 'resolving'}"
    elif svc.headless:
        part.not_served.append(NotServed("clusterIP: None", svc.key,
                                         "headless Service: no virtual server, clients use the endpoints"))
    vips: list[str] = []
    scheduler = svc.options.get("scheduler", scheduler)
    for spv in view.port_views():
        if spv.protocol != TCP:
            for fe in spv.frontends:
                where = f"{host_port(fe.ip, fe.port) if fe.ip else ':' + str(fe.port)}/{fe.protocol}"
                part.not_served.append(NotServed(where, fe.service, f"{fe.protocol} is not served yet"))
            continue
        if not spv.frontends:
            continue
        if part.name:
            target = spv.spec.target_port
            if not isinstance(target, int):
                part.not_served.append(NotServed(f"{spv.port}/{spv.protocol}", svc.key,
                                                 f'targetPort "{target}" names a port, and a name has no '
                                                 "endpoints to name it: give a number"))
                continue
            # a name's addresses serve every frontend, whatever their families
            groups = {ANY_FAMILY: (spv.frontends, tuple((ip, target) for ip in addresses))}
        else:
            groups = _by_family(svc, spv)
        for family, (frontends, endpoints) in groups.items():
            sp_id = ids.sp(svc.key, spv.port_name, spv.protocol, family)
            reals = tuple(RealServer(ids.ep(sp_id, ip, port), ip, port) for ip, port in endpoints)
            part.rows[sp_id] = (sp_id, sp_name(svc.key, spv.port_name, spv.protocol), scheduler,
                                svc.affinity_timeout, reals)
            for fe in frontends:
                if fe.kind == FRONTEND_NODE_PORT:
                    places = [a for a in node_addresses if family == ANY_FAMILY or _version(a) == family]
                else:
                    places = (fe.ip,)
                    if fe.ip not in vips:
                        vips.append(fe.ip)
                for ip in places:
                    part.frontends.append(_Frontend(fe.kind, ip, fe.port, TCP, spv.port_name, sp_id,
                                                    svc.affinity_timeout, reals, scheduler))
    part.vips = tuple(vips)
    return part


ANY_FAMILY = 0


def _version(ip: str) -> int:
    """4 or 6 as kube-proxy reads it (an IPv4-mapped IPv6 literal is IPv4); fast for the rest."""
    if ":" not in ip:
        return 4
    return ip_version(ip) if "." in ip else 6


def _by_family(svc, spv) -> dict[int, tuple[tuple, tuple]]:
    """family -> (frontends, endpoints as (ip, port)): kube-proxy runs one proxier per IP
    family, so a frontend only leads to endpoints of its own family, and a node port only
    serves the families the Service has (an IPv4-only Service does not answer on [::])."""
    families = {4 if f == "IPv4" else 6 for f in svc.ip_families} or {4, 6}
    out = {}
    for family in (4, 6):
        frontends = tuple(fe for fe in spv.frontends
                          if (_version(fe.ip) == family if fe.ip else family in families))
        if frontends:
            out[family] = (frontends, tuple((e.ip, e.port) for e in spv.usable if _version(e.ip) == family))
    return out
