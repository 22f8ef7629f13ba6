"""The ipvsadm-restore input kube-proxy's ipvs mode would program for a Snapshot.

kube-proxy (pkg/proxy/ipvs/proxier.go syncService/syncEndpoint) makes one virtual server
per clusterIP:port, externalIP:port, load balancer IP:port and node IP:nodePort, each
with scheduler --ipvs-scheduler (default rr) and, for ClientIP affinity, persistence
(-p <timeoutSeconds>; the default /32 and /128 netmasks are not printed). Every
endpoint is a masquerading (NAT) real server of weight 1. A port without endpoints
keeps its virtual server with no real servers: IPVS then refuses the connection.

The IPVS table is shared by both families, so one output holds IPv4 and IPv6 virtual
servers (IPv6 as [addr]:port). ipvsadm-restore takes no comments: anything to say
(nodePorts skipped for lack of --node-ip) goes to `warnings`.

The iptables/ipset side of ipvs mode (KUBE-CLUSTER-IP, masquerade rules) and binding the
addresses to kube-ipvs0 are not rendered.
"""
from __future__ import annotations

from lb.addresses import host_port
from lb.render.plan import family_ips, port_plans
from lb.settings import DEFAULT_SCHEDULER
from lb.snapshot import ServicePortView, Snapshot

REAL_SERVER_WEIGHT = 1
PROTOCOL_FLAGS = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}


def render_ipvs(snapshot: Snapshot, node_ips=(), scheduler: str = DEFAULT_SCHEDULER,
                warnings: list[str] | None = None) -> str:
    """ipvsadm-restore input for IPv4 and IPv6 services. node_ips: the addresses
    nodePorts are served on (one virtual server each); none: nodePorts are skipped."""
    lines: list[str] = []
    skipped_nodeports: list[str] = []
    for family in (4, 6):
        for plan in port_plans(snapshot, family, warnings):
            vips = [plan.cluster_ip, *plan.external_ips, *plan.lb_ips]
            vip_ports = [(ip, plan.port) for ip in vips]
            if plan.node_port:
                ips = family_ips(node_ips, family)
                vip_ports += [(ip, plan.node_port) for ip in ips]
                if not ips:
                    skipped_nodeports.append(f"{plan.node_port}/{plan.protocol.lower()} ({plan.name})")
            for ip, port in vip_ports:
                lines += _virtual_server(plan, ip, port, plan.service.options.get("scheduler", scheduler))
    if skipped_nodeports and warnings is not None:
        warnings.append("ipvs: nodePorts " + ", ".join(skipped_nodeports)
                        + " not rendered: pass --node-ip to render them")
    return "".join(line + "\n" for line in lines)


def _virtual_server(p: ServicePortView, ip: str, port: int, scheduler: str) -> list[str]:
    service = f"{PROTOCOL_FLAGS[p.protocol.lower()]} {host_port(ip, port)}"
    persistence = f" -p {p.service.affinity_timeout}" if p.service.affinity_timeout else ""
    out = [f"-A {service} -s {scheduler}{persistence}"]
    out += [f"-a {service} -r {host_port(ep.ip, ep.port)} -m -w {REAL_SERVER_WEIGHT}" for ep in p.usable]
    return out
