"""`lb dns-config`: how to point a laptop's resolver at lb's DNS, as text to paste.

Two ways, both printed:
  * systemd-resolved, routing only `~<zone>` to lb. resolved.conf's DNS= takes ADDR:PORT
    since systemd 246 (its NEWS: "DNS= configuration option now optionally accepts a port
    number"); before 246 only port 53 works. Names that match no routing domain also go to
    the global DNS= servers (systemd-resolved.service(8), "Protocols and Routing"), which
    lb refuses without --dns-upstream; a per-link setting with default-route off avoids that.
  * /etc/resolv.conf as a pod gets it (ClusterFirst): nameserver, the three search domains,
    ndots:5. glibc and musl read no port there, so this needs lb on port 53.
"""
from __future__ import annotations

from lb.addresses import host_port, parse_host_port
from lb.dns.flags import DNS_PORT, EXAMPLE_BIND_ADDRESS

DROP_IN = "/etc/systemd/resolved.conf.d/lb-cluster-dns.conf"
RESOLVED_PORT_SYNTAX = 246          # first systemd whose resolved.conf DNS= takes :PORT
LOOPBACK_FOR_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def render(bind_addresses: tuple[str, ...], zone: str, namespace: str | None) -> str:
    binds = [parse_host_port(b, DNS_PORT) for b in (bind_addresses or (EXAMPLE_BIND_ADDRESS,))]
    binds = [(LOOPBACK_FOR_WILDCARD.get(h, h), p) for h, p in binds]
    ns = namespace or "default"
    resolved_dns = " ".join(host_port(h, p) if p != DNS_PORT else h for h, p in binds)
    flags = " ".join(f"--dns-bind-address {host_port(h, p)}" for h, p in binds)
    port53 = [(h, p) for h, p in binds if p == DNS_PORT]
    lines = [
        f"# lb answers *.svc.{zone} at {', '.join(host_port(h, p) for h, p in binds)} (UDP and TCP) when run as",
        f"#   lb run -f MANIFESTS {flags} --cluster-domain {zone}"
        + (f" --dns-search-namespace {namespace}" if namespace else ""),
        "",
        f"## 1. systemd-resolved: only *.{zone} goes to lb",
        f"# Write {DROP_IN}, then: systemctl restart systemd-resolved",
        "[Resolve]",
        f"DNS={resolved_dns}",
        f"Domains=~{zone}",
        f"# Check: resolvectl query kubernetes.default.svc.{zone}",
        f"# DNS=ADDR:PORT needs systemd >= {RESOLVED_PORT_SYNTAX} (systemctl --version); "
        "older ones talk to port 53 only.",
        "# resolved also sends the global DNS= servers names that match no routing domain; lb REFUSES",
        "# those (resolved then keeps another server's answer) unless lb runs with --dns-upstream. To keep",
        "# them from lb, set it on a link instead of this file:",
        f"#   resolvectl dns IFACE {resolved_dns}; resolvectl domain IFACE '~{zone}'; "
        "resolvectl default-route IFACE false",
        "",
        "## 2. /etc/resolv.conf, as a pod gets it (every name goes to lb: run it with --dns-upstream)",
    ]
    if not port53:
        lines.append(f"# resolv.conf has no port: this needs lb on port 53 (--dns-bind-address {binds[0][0]}:53;"
                     " binding it takes CAP_NET_BIND_SERVICE or net.ipv4.ip_unprivileged_port_start=53)")
    lines += [f"nameserver {h}" for h, _ in (port53 or binds[:1])]
    lines += [f"search {ns}.svc.{zone} svc.{zone} {zone}", "options ndots:5"]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    print(render(tuple(args.dns_bind_addresses), args.cluster_domain, args.dns_search_namespace), end="")
    return 0
