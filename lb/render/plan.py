"""Which service ports one IP family's kube-proxy would program: the input every
renderer shares, so iptables, nftables and ipvs output describe the same frontends
and endpoints.

kube-proxy runs one proxier per family (metaproxier): a Service whose clusterIP is of the
other family is invisible to it, and endpoints, externalIPs and load balancer IPs of the
other family are dropped. Headless and ExternalName Services are skipped
(ShouldSkipService). The views come from Snapshot.service_ports(), the projection lb
itself serves from, so the rules describe exactly what lb serves (that includes
spec.loadBalancerIP, which kube-proxy only sees once a cloud controller copies it into
status.loadBalancer).
"""
from __future__ import annotations

from lb.addresses import ip_version
from lb.config.model import SCTP, TCP, UDP
from lb.snapshot import ServicePortView, Snapshot

PROTOCOLS = (TCP, UDP, SCTP)


def port_plans(snapshot: Snapshot, family: int, warnings: list[str] | None = None) -> list[ServicePortView]:
    """Every service port kube-proxy's proxier for `family` (4 or 6) would program, in
    snapshot order (namespace, name, then spec.ports order), restricted to that family."""
    warn = warnings.append if warnings is not None else (lambda _msg: None)
    out: list[ServicePortView] = []
    for view in snapshot.services:
        svc = view.service
        ports = view.port_views()
        if not view.frontends or svc.type == "ExternalName":
            continue
        if (svc.external_traffic_policy == "Local" or svc.internal_traffic_policy == "Local") \
                and family == _first_family(ports):
            warn(f'Service "{svc.key}": traffic policy Local rendered as Cluster '
                 "(lb has no node identity to tell local endpoints)")
        for spv in ports:
            if spv.protocol not in PROTOCOLS:
                warn(f'Service "{svc.key}": port {spv.port}/{spv.protocol} skipped: protocol not supported')
                continue
            mine = spv.of_family(family)
            if mine.cluster_ips:
                out.append(mine)     # else a Service of the other family
    return out


def _first_family(ports: tuple[ServicePortView, ...]) -> int:
    for spv in ports:
        if spv.cluster_ips:
            return ip_version(spv.cluster_ips[0])
    return 4


def family_ips(ips, family: int) -> tuple[str, ...]:
    return tuple(ip for ip in ips if ip_version(ip) == family)
