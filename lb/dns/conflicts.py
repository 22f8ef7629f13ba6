"""One owner per address:port/protocol: a DNS bind address that is also a Service's frontend.

lb's DNS holds UDP and TCP on every --dns-bind-address. A Service whose clusterIP,
externalIP, load balancer IP or node port is that address and port (the seed's kube-dns
at 10.96.0.10:53) claims the same sockets: queries would go to whichever bound first.
`lb run` refuses to start with such a pair and logs it on a reload that brings one.
A wildcard on either side (0.0.0.0, ::, or a node port served on every address) overlaps
every address of its family (lb binds `::` IPV6_V6ONLY, so it never covers IPv4).
"""
from __future__ import annotations

from lb.addresses import host_port, ip_family, is_wildcard
from lb.config.model import TCP, UDP
from lb.snapshot import Snapshot

DNS_PROTOCOLS = (UDP, TCP)


def bind_conflicts(snapshot: Snapshot, binds, node_addresses=("0.0.0.0", "::")) -> list[str]:
    """One message per (DNS bind address, frontend) that share address, port and protocol.
    binds: (host, port) pairs as --dns-bind-address reads them; node_addresses: where node
    ports listen (lb.serve.node_addresses)."""
    return [c for view in snapshot.services for c in view_conflicts(view, binds, node_addresses)]


def view_conflicts(view, binds, node_addresses=("0.0.0.0", "::")) -> list[str]:
    """bind_conflicts for one ServiceView."""
    out = []
    for spv in view.port_views():
        if spv.protocol not in DNS_PROTOCOLS:
            continue
        for fe in spv.frontends:
            for ip in ((fe.ip,) if fe.ip else tuple(node_addresses)):
                for host, port in binds:
                    if port != fe.port or not _overlap(host, ip):
                        continue
                    where = host_port(ip, fe.port) if fe.ip else f"node port {fe.port} on {ip}"
                    port_name = f" port {spv.port_name!r}" if spv.port_name else ""
                    out.append(f"--dns-bind-address {host_port(host, port)} is also {where}/{fe.protocol}, "
                               f"the {fe.kind} of Service \"{fe.service}\"{port_name} "
                               f"({len(spv.usable)} endpoints): one owner per address:port/protocol; "
                               f"pick another --dns-bind-address or remove that port from the Service")
    return out


def _overlap(a: str, b: str) -> bool:
    if a == b:
        return True
    if is_wildcard(a) or is_wildcard(b):
        return ip_family(a) == ip_family(b)
    return False
