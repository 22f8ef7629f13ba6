"""The Snapshot: the one immutable desired state built per load or reload.

Everything that serves, renders rules, answers DNS or prints a table reads a
Snapshot. It is built by lb.config.pipeline.build_snapshot() from manifests
(load -> validate+default -> allocate -> resolve) and never mutated.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lb.addresses import host_port
from lb.config.model import Namespace, Pod, Service, ServicePort, EndpointSet
from lb.diagnostics import Diagnostic

# Frontend kinds: where a service port is reachable, as kube-proxy programs it.
FRONTEND_CLUSTER_IP = "clusterIP"
FRONTEND_EXTERNAL_IP = "externalIP"
FRONTEND_LOAD_BALANCER = "loadBalancer"   # spec.loadBalancerIP and status ingress IPs
FRONTEND_NODE_PORT = "nodePort"           # ip "" means every node address (--nodeport-addresses)


@dataclass(frozen=True)
class ResolvedEndpoint:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    hostname: str | None = None
    node_name: str | None = None
    target_ref: str | None = None     # "Pod/<name>" when known

    @property
    def address(self) -> str:
        """ip:port, with brackets for IPv6 as kubectl prints it."""
        return host_port(self.ip, self.port)


@dataclass(frozen=True)
class ResolvedPort:
    """One Service port and what kube-proxy would see for it."""
    port: ServicePort
    endpoints: tuple[ResolvedEndpoint, ...]   # every known endpoint, ready or not, sorted by (ip, port)
    usable: tuple[ResolvedEndpoint, ...]      # what traffic goes to: ready, else serving+terminating (kube-proxy fallback)


@dataclass(frozen=True)
class Frontend:
    """A virtual server: one address:port/protocol that leads to one service port."""
    kind: str          # FRONTEND_*
    ip: str            # "" for a nodePort on every node address
    port: int
    protocol: str      # TCP, UDP, SCTP
    service: str       # "<namespace>/<name>"
    port_name: str     # the ServicePort's name ("" when unnamed)


@dataclass(frozen=True)
class ServiceView:
    service: Service
    ports: tuple[ResolvedPort, ...]

    def frontends(self) -> tuple[Frontend, ...]:
        """Every virtual server of this Service, in kube-proxy's order: clusterIPs,
        externalIPs, load balancer IPs, node ports. Headless and ExternalName: none."""
        return service_frontends(self.service)


@dataclass(frozen=True)
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

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    def service(self, namespace: str, name: str) -> ServiceView | None:
        for view in self.services:
            if view.service.namespace == namespace and view.service.name == name:
                return view
        return None

    def frontends(self) -> tuple[tuple[Frontend, ResolvedPort, ServiceView], ...]:
        """Every virtual server with the service port it leads to."""
        out = []
        for view in self.services:
            by_key = {(rp.port.name, rp.port.protocol): rp for rp in view.ports}
            for fe in view.frontends():
                out.append((fe, by_key[(fe.port_name, fe.protocol)], view))
        return tuple(out)


def service_frontends(svc: Service) -> tuple[Frontend, ...]:
    if svc.type == "ExternalName" or svc.headless:
        return ()
    out: list[Frontend] = []

    def add(kind: str, ip: str, port: int, sp: ServicePort) -> None:
        fe = Frontend(kind, ip, port, sp.protocol, svc.key, sp.name)
        if fe not in out:
            out.append(fe)

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
