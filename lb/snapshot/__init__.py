"""The Snapshot: the one immutable desired state built per load or reload.

Everything that serves, renders rules, answers DNS or prints a table reads a
Snapshot. lb.snapshot.build makes it from manifests (load -> validate+default ->
allocate -> resolve); it is never mutated.

`Snapshot.service_ports()` is the one projection every consumer shares: per
Service port (kube-proxy's ServicePortName) its virtual servers and endpoints.
Serving (lb.plan) takes it whole; the kube-proxy renderers take it one IP family
at a time (`ServicePortView.of_family`), as kube-proxy's per-family proxiers do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lb.addresses import ip_family, ip_version
from lb.config.model import Endpoint, EndpointSet, Namespace, Pod, Service, ServicePort
from lb.diagnostics import Diagnostic, errors_of

# Frontend kinds: where a service port is reachable, as kube-proxy programs it.
FRONTEND_CLUSTER_IP = "clusterIP"
FRONTEND_EXTERNAL_IP = "externalIP"
FRONTEND_LOAD_BALANCER = "loadBalancer"   # spec.loadBalancerIP and status ingress IPs
FRONTEND_NODE_PORT = "nodePort"           # ip "" means every node address (--nodeport-addresses)


@dataclass(frozen=True, slots=True)
class ResolvedPort:
    """One Service port and the endpoints kube-proxy would see for it."""
    port: ServicePort
    endpoints: tuple[Endpoint, ...]   # every known endpoint, ready or not, sorted by (ip, port)
    usable: tuple[Endpoint, ...]      # what traffic goes to: ready, else serving+terminating (kube-proxy fallback)


@dataclass(frozen=True, slots=True)
class Frontend:
    """A virtual server: one address:port/protocol that leads to one service port."""
    kind: str          # FRONTEND_*
    ip: str            # "" for a nodePort on every node address
    port: int
    protocol: str      # TCP, UDP, SCTP
    service: str       # "<namespace>/<name>"
    port_name: str     # the ServicePort's name ("" when unnamed)


@dataclass(frozen=True, slots=True)
class ServiceView:
    service: Service
    ports: tuple[ResolvedPort, ...]
    # Every virtual server of this Service, in kube-proxy's order: clusterIPs, externalIPs,
    # load balancer IPs, node ports. Headless: none; ExternalName: its forward_ip, externalIPs.
    frontends: tuple[Frontend, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "frontends", service_frontends(self.service))

    def port_views(self) -> tuple["ServicePortView", ...]:
        frontends = self.frontends
        return tuple(ServicePortView(self.service, rp, tuple(
            fe for fe in frontends if fe.port_name == rp.port.name and fe.protocol == rp.port.protocol))
            for rp in self.ports)


@dataclass(frozen=True, slots=True)
class ServicePortView:
    """One service port as kube-proxy sees it (a ServicePortName): its virtual servers and endpoints."""
    service: Service
    resolved: ResolvedPort
    frontends: tuple[Frontend, ...]
    family: int = 0       # 4 or 6 once restricted to one IP family (of_family), 0: both

    @property
    def spec(self) -> ServicePort:
        return self.resolved.port

    @property
    def port(self) -> int:
        return self.resolved.port.port

    @property
    def port_name(self) -> str:
        return self.resolved.port.name

    @property
    def protocol(self) -> str:
        return self.resolved.port.protocol

    @property
    def name(self) -> str:
        """ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port."""
        key = self.service.key
        return f"{key}:{self.port_name}" if self.port_name else key

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return self.resolved.endpoints

    @property
    def usable(self) -> tuple[Endpoint, ...]:
        return self.resolved.usable

    def _ips(self, kind: str) -> tuple[str, ...]:
        return tuple(fe.ip for fe in self.frontends if fe.kind == kind)

    @property
    def cluster_ips(self) -> tuple[str, ...]:
        return self._ips(FRONTEND_CLUSTER_IP)

    @property
    def cluster_ip(self) -> str:
        ips = self.cluster_ips
        return ips[0] if ips else ""

    @property
    def external_ips(self) -> tuple[str, ...]:
        return self._ips(FRONTEND_EXTERNAL_IP)

    @property
    def lb_ips(self) -> tuple[str, ...]:
        return self._ips(FRONTEND_LOAD_BALANCER)

    @property
    def node_port(self) -> int:
        return next((fe.port for fe in self.frontends if fe.kind == FRONTEND_NODE_PORT), 0)

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_ips)

    @property
    def source_ranges(self) -> tuple[str, ...]:
        """loadBalancerSourceRanges (of this view's family, once restricted)."""
        ranges = self.service.load_balancer_source_ranges
        if not self.family:
            return ranges
        return tuple(r for r in ranges if ip_version(r.strip().split("/")[0]) == self.family)

    def of_family(self, version: int) -> "ServicePortView":
        """The part one IP family's proxier sees: frontends, endpoints and source
        ranges of that family (node ports stay: they serve every node address)."""
        family = "IPv4" if version == 4 else "IPv6"
        frontends = tuple(fe for fe in self.frontends if not fe.ip or ip_family(fe.ip) == family)
        rp = self.resolved
        resolved = ResolvedPort(rp.port, tuple(ep for ep in rp.endpoints if ip_family(ep.ip) == family),
                                tuple(ep for ep in rp.usable if ip_family(ep.ip) == family))
        return ServicePortView(self.service, resolved, frontends, version)


@dataclass(frozen=True, slots=True)
class Changes:
    """How a Snapshot differs from the one built before it (`base`, by id: a consumer that
    holds base knows the id cannot have been reused): the Services whose view changed,
    "namespace/name" -> the new view, None for one gone."""
    base: int
    views: Mapping[str, "ServiceView | None"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int
    services: tuple[ServiceView, ...]          # sorted by (namespace, name)
    endpoint_sets: tuple[EndpointSet, ...] = ()
    pods: tuple[Pod, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()   # errors and warnings of the load that built it
    skipped: tuple[str, ...] = ()              # "<file>:<line>: skipped kind X" for -v
    files: tuple[str, ...] = ()                # every file read
    file_mtimes: dict = field(default_factory=dict, compare=False)
    changes: Changes | None = field(default=None, compare=False, repr=False)   # since the Snapshot before

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return errors_of(self.diagnostics)

    def service_ports(self):
        """Every ServicePortView, in Service order then spec.ports order."""
        for view in self.services:
            yield from view.port_views()


def service_frontends(svc: Service) -> tuple[Frontend, ...]:
    """An ExternalName Service with ports is served on its forward_ip (lb forwards it to the
    name; kube-proxy ignores it) and its externalIPs."""
    if svc.headless:
        return ()
    out: list[Frontend] = []

    def add(kind: str, ip: str, port: int, sp: ServicePort) -> None:
        fe = Frontend(kind, ip, port, sp.protocol, svc.key, sp.name)
        if fe not in out:
            out.append(fe)

    if svc.type == "ExternalName":
        for sp in svc.ports if svc.forward_ip else ():
            add(FRONTEND_CLUSTER_IP, svc.forward_ip, sp.port, sp)
            for ip in svc.external_ips:
                add(FRONTEND_EXTERNAL_IP, ip, sp.port, sp)
        return tuple(out)
    for sp in svc.ports:
        for ip in svc.cluster_ips or ((svc.cluster_ip,) if svc.cluster_ip else ()):
            add(FRONTEND_CLUSTER_IP, ip, sp.port, sp)
        for ip in svc.external_ips:
            add(FRONTEND_EXTERNAL_IP, ip, sp.port, sp)
        if svc.type == "LoadBalancer":
            for ip in ((svc.load_balancer_ip,) if svc.load_balancer_ip else ()) + tuple(svc.load_balancer_ingress):
                add(FRONTEND_LOAD_BALANCER, ip, sp.port, sp)
        if svc.type in ("NodePort", "LoadBalancer") and sp.node_port:
            add(FRONTEND_NODE_PORT, "", sp.node_port, sp)
    return tuple(out)
