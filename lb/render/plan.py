"""What kube-proxy sees of each service port in one IP family: the input every renderer
shares, so iptables, nftables and ipvs output describe the same frontends and endpoints.

kube-proxy runs one proxier per family (metaproxier): a Service whose clusterIP is of the
other family is invisible to it, and endpoints, externalIPs and load balancer IPs of the
other family are dropped. Headless and ExternalName Services are skipped
(ShouldSkipService). Frontends come from lb.snapshot.service_frontends so the rules
describe exactly what lb itself serves (that includes spec.loadBalancerIP, which
kube-proxy only sees once a cloud controller copies it into status.loadBalancer).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from lb.config.model import AFFINITY_CLIENT_IP, DEFAULT_AFFINITY_TIMEOUT, TCP, UDP, SCTP
from lb.render import naming
from lb.snapshot import (FRONTEND_CLUSTER_IP, FRONTEND_EXTERNAL_IP, FRONTEND_LOAD_BALANCER,
                         FRONTEND_NODE_PORT, ResolvedEndpoint, Snapshot, service_frontends)

PROTOCOLS = (TCP, UDP, SCTP)


def ip_family(ip: str) -> int:
    return ipaddress.ip_address(ip).version


@dataclass(frozen=True)
class PortPlan:
    namespace: str
    service: str
    port_name: str                 # the ServicePort's name, "" when unnamed
    name: str                      # ServicePortName.String(): "ns/name:port"
    protocol: str                  # lower case: tcp, udp, sctp
    cluster_ip: str
    port: int
    external_ips: tuple[str, ...]
    lb_ips: tuple[str, ...]
    node_port: int                 # 0: none
    endpoints: tuple[ResolvedEndpoint, ...]   # usable endpoints of this family
    affinity_timeout: int          # seconds, 0: no ClientIP affinity
    source_ranges: tuple[str, ...]  # loadBalancerSourceRanges of this family

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.external_ips or self.lb_ips)


def port_plans(snapshot: Snapshot, family: int, warnings: list[str] | None = None) -> list[PortPlan]:
    """Every service port kube-proxy's proxier for `family` (4 or 6) would program, in
    snapshot order (namespace, name, then spec.ports order)."""
    warn = warnings.append if warnings is not None else (lambda _msg: None)
    out: list[PortPlan] = []
    for view in snapshot.services:
        svc = view.service
        frontends = service_frontends(svc)
        if not frontends:
            continue
        if (svc.external_traffic_policy == "Local" or svc.internal_traffic_policy == "Local") \
                and family == _first_family(frontends):
            warn(f'Service "{svc.key}": traffic policy Local rendered as Cluster '
                 "(lb has no node identity to tell local endpoints)")
        for rp in view.ports:
            sp = rp.port
            if sp.protocol not in PROTOCOLS:
                warn(f'Service "{svc.key}": port {sp.port}/{sp.protocol} skipped: protocol not supported')
                continue
            mine = [fe for fe in frontends if fe.port_name == sp.name and fe.protocol == sp.protocol]
            ips = {kind: tuple(fe.ip for fe in mine if fe.kind == kind and ip_family(fe.ip) == family)
                   for kind in (FRONTEND_CLUSTER_IP, FRONTEND_EXTERNAL_IP, FRONTEND_LOAD_BALANCER)}
            if not ips[FRONTEND_CLUSTER_IP]:
                continue   # a Service of the other family
            node_port = next((fe.port for fe in mine if fe.kind == FRONTEND_NODE_PORT), 0)
            affinity = 0
            if svc.session_affinity == AFFINITY_CLIENT_IP:
                affinity = svc.affinity_timeout or DEFAULT_AFFINITY_TIMEOUT
            out.append(PortPlan(
                namespace=svc.namespace, service=svc.name, port_name=sp.name,
                name=naming.service_port_name(svc, sp), protocol=sp.protocol.lower(),
                cluster_ip=ips[FRONTEND_CLUSTER_IP][0], port=sp.port,
                external_ips=ips[FRONTEND_EXTERNAL_IP], lb_ips=ips[FRONTEND_LOAD_BALANCER],
                node_port=node_port,
                endpoints=tuple(ep for ep in rp.usable if ip_family(ep.ip) == family),
                affinity_timeout=affinity,
                source_ranges=tuple(r for r in svc.load_balancer_source_ranges
                                    if ipaddress.ip_network(r.strip(), strict=False).version == family),
            ))
    return out


def _first_family(frontends) -> int:
    for fe in frontends:
        if fe.kind == FRONTEND_CLUSTER_IP:
            return ip_family(fe.ip)
    return 4


def family_ips(ips, family: int) -> tuple[str, ...]:
    return tuple(ip for ip in ips if ip_family(ip) == family)


def cidr_contains(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
