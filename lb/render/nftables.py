"""The nft -f input kube-proxy's nftables mode would send for a Snapshot.

Shape: kube-proxy v1.31+ (pkg/proxy/nftables/proxier.go setupNFTables and
syncProxyRules), written as the knftables transaction it pipes to `nft -f -`: one table
`ip kube-proxy` (`ip6 kube-proxy` for IPv6) holding
- base chains filter-* (priority dstnat-10 = -110, post-DNAT output at -90) and nat-*;
- verdict maps service-ips (`ipv4_addr . inet_proto . inet_service`) and
  service-nodeports (`inet_proto . inet_service`) dispatching to per-port chains;
- service-<hash>-ns/name/proto/port chains choosing an endpoint with
  `numgen random mod N vmap { 0 : goto endpoint-..., ... }`;
- endpoint-<hash>-...__ip/port chains doing the hairpin masquerade mark and `dnat to`;
- ClientIP affinity as one dynamic set per endpoint (affinity-...) with a timeout,
  filled by `update @set { ip saddr }` and checked before the numgen rule;
- no-endpoint-services / no-endpoint-nodeports maps sending to reject-chain.

Assumed kube-proxy flags as in lb.render.iptables (no --cluster-cidr, no service CIDRs
known, masquerade bit 14). --nodeport-addresses = the given node IPs (the nodeport-ips
set); none: every local address (`fib daddr type local`).

The output starts with `add table` + `delete table` so that loading it again replaces the
table instead of appending duplicate rules.
"""
from __future__ import annotations

import ipaddress

from lb.addresses import host_port
from lb.render import naming
from lb.addresses import cidr_contains
from lb.render.plan import family_ips, port_plans
from lb.snapshot import ServicePortView, Snapshot

TABLE = "kube-proxy"
MASQUERADE_MARK = "0x4000"
KUBE_PROXY_VERSION = "v1.31"
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"
SERVICES = "services"
REJECT_CHAIN = "reject-chain"
FIREWALL_CHECK = "firewall-check"
CLUSTER_IPS_CHECK = "cluster-ips-check"
SERVICE_ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"

# name, type, hook, priority (knftables DNATPriority "dstnat" = -100, SNATPriority "srcnat" = 100)
BASE_CHAINS = (
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
)
# (chain jumped to, base chain, match) in kube-proxy's nftablesJumpChains order
JUMP_CHAINS = (
    (NODEPORT_ENDPOINTS_CHECK, "filter-input", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-input", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-forward", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-output", "ct state new"),
    (FIREWALL_CHECK, "filter-prerouting", "ct state new"),
    (FIREWALL_CHECK, "filter-output", "ct state new"),
    (SERVICES, "nat-output", ""),
    (SERVICES, "nat-prerouting", ""),
    (MASQUERADING, "nat-postrouting", ""),
    (CLUSTER_IPS_CHECK, "filter-forward", "ct state new"),
    (CLUSTER_IPS_CHECK, "filter-output-post-dnat", "ct state new"),
)


class _Tx:
    """Accumulates `add ...` lines for one table, like a knftables.Transaction."""

    def __init__(self, family: str) -> None:
        self.prefix = f"{family} {TABLE}"
        self.lines: list[str] = []
        self.chains: set[str] = set()

    def add(self, what: str, rest: str) -> None:
        self.lines.append(f"add {what} {self.prefix} {rest}")

    def chain(self, name: str, spec: str = "") -> None:
        if name not in self.chains:
            self.chains.add(name)
            self.add("chain", f"{name} {{ {spec} ; }}" if spec else name)

    def rule(self, chain: str, rule: str, comment: str | None = None) -> None:
        self.add("rule", f"{chain} {rule}" + (f' comment "{comment}"' if comment else ""))

    def element(self, container: str, key: str, value: str | None = None, comment: str | None = None) -> None:
        text = key + (f' comment "{comment}"' if comment else "") + (f" : {value}" if value else "")
        self.add("element", f"{container} {{ {text} }}")


def render_nftables(snapshot: Snapshot, family: int = 4, node_ips=(),
                    warnings: list[str] | None = None) -> str:
    """nft -f input for table `ip kube-proxy` (family=6: `ip6 kube-proxy`).
    node_ips: addresses that accept nodePorts; empty means every local address."""
    ipx = "ip6" if family == 6 else "ip"
    addr_type = "ipv6_addr" if family == 6 else "ipv4_addr"
    no_localhost = "ip6 daddr != ::1" if family == 6 else "ip daddr != 127.0.0.0/8"
    node_ips = tuple(ip for ip in family_ips(node_ips, family) if not ipaddress.ip_address(ip).is_loopback)
    tx = _Tx(ipx)
    table_spec = '{ comment "rules for kube-proxy" ; }'
    tx.add("table", table_spec)
    tx.lines.append(f"delete table {tx.prefix}")
    tx.add("table", table_spec)

    for name, kind, hook, prio in BASE_CHAINS:
        tx.chain(name, f"type {kind} hook {hook} priority {prio}")
    for dst, src, match in JUMP_CHAINS:
        tx.chain(dst)
        tx.rule(src, f"{match + ' ' if match else ''}jump {dst}")
    for name in (SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ):
        tx.chain(name)
    tx.rule(MARK_MASQ, f"mark set mark or {MASQUERADE_MARK}")
    tx.rule(MASQUERADING, f"mark and {MASQUERADE_MARK} == 0 return")
    tx.rule(MASQUERADING, f"mark set mark xor {MASQUERADE_MARK}")
    tx.rule(MASQUERADING, "masquerade fully-random")

    tx.add("set", f'cluster-ips {{ type {addr_type} ; comment "Active ClusterIPs" ; }}')
    tx.rule(CLUSTER_IPS_CHECK, f"{ipx} daddr @cluster-ips reject",
            comment="Reject traffic to invalid ports of ClusterIPs")
    if node_ips:
        tx.add("set", f'nodeport-ips {{ type {addr_type} ; comment "IPs that accept NodePort traffic" ; }}')
        for ip in node_ips:
            tx.element("nodeport-ips", ip)

    tx.add("map", f"no-endpoint-services {{ type {addr_type} . inet_proto . inet_service : verdict ; "
                  'comment "vmap to drop or reject packets to services with no endpoints" ; }')
    tx.add("map", "no-endpoint-nodeports { type inet_proto . inet_service : verdict ; "
                  'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }')
    tx.chain(REJECT_CHAIN, 'comment "helper for @no-endpoint-services / @no-endpoint-nodeports"')
    tx.rule(REJECT_CHAIN, "reject")
    tx.rule(SERVICE_ENDPOINTS_CHECK, f"{ipx} daddr . meta l4proto . th dport vmap @no-endpoint-services")
    nodeport_dest = f"{ipx} daddr @nodeport-ips" if node_ips else no_localhost
    tx.rule(NODEPORT_ENDPOINTS_CHECK, f"{nodeport_dest} meta l4proto . th dport vmap @no-endpoint-nodeports")

    tx.add("map", f"firewall-ips {{ type {addr_type} . inet_proto . inet_service : verdict ; "
                  'comment "destinations that are subject to LoadBalancerSourceRanges" ; }')
    tx.chain(FIREWALL_CHECK)
    tx.rule(FIREWALL_CHECK, f"{ipx} daddr . meta l4proto . th dport vmap @firewall-ips")

    tx.add("map", f"service-ips {{ type {addr_type} . inet_proto . inet_service : verdict ; "
                  'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }')
    tx.add("map", 'service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }')
    tx.rule(SERVICES, f"{ipx} daddr . meta l4proto . th dport vmap @service-ips")
    if node_ips:
        tx.rule(SERVICES, f"{ipx} daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")
    else:
        tx.rule(SERVICES, f"fib daddr type local {no_localhost} meta l4proto . th dport vmap @service-nodeports")

    cluster_ips: set[str] = set()
    for plan in port_plans(snapshot, family, warnings):
        _service_port(tx, plan, ipx, addr_type, node_ips, cluster_ips)

    head = [f"# kube-proxy {KUBE_PROXY_VERSION} nftables mode, IPv{family}, rendered by lb; load with nft -f."]
    return "\n".join(head + tx.lines) + "\n"


def _service_port(tx: _Tx, p: ServicePortView, ipx: str, addr_type: str, node_ips, cluster_ips: set[str]) -> None:
    base = naming.nft_service_base(p.service.namespace, p.service.name, p.protocol.lower(), p.port_name)
    svc_chain, ext_chain, fw_chain = f"service-{base}", f"external-{base}", f"firewall-{base}"
    eps = []
    for ep in p.usable:
        ep_base = naming.nft_endpoint_base(p.service.namespace, p.service.name, p.protocol.lower(), p.port_name,
                                           ep.ip, ep.port)
        eps.append((ep, f"endpoint-{ep_base}", f"affinity-{ep_base}"))
    has_endpoints = bool(eps)
    uses_ext = has_endpoints and p.externally_accessible
    uses_fw = bool(p.lb_ips) and bool(p.source_ranges)

    for _, chain, _ in eps:
        tx.chain(chain)
    if has_endpoints:
        tx.chain(svc_chain)
    if uses_ext:
        tx.chain(ext_chain)
    reject = f"goto {REJECT_CHAIN}"

    def key(ip: str, port: int | None = None) -> str:
        return f"{ip} . {p.protocol.lower()} . {p.port if port is None else port}"

    if p.cluster_ip not in cluster_ips:   # a set holds each address once
        cluster_ips.add(p.cluster_ip)
        tx.element("cluster-ips", p.cluster_ip)
    if has_endpoints:
        tx.element("service-ips", key(p.cluster_ip), f"goto {svc_chain}")
    else:
        tx.element("no-endpoint-services", key(p.cluster_ip), reject, comment=p.name)
    for ip in p.external_ips:
        if has_endpoints:
            tx.element("service-ips", key(ip), f"goto {ext_chain}")
        else:
            tx.element("no-endpoint-services", key(ip), reject, comment=p.name)
    if uses_fw:
        tx.chain(fw_chain)
    for ip in p.lb_ips:
        if has_endpoints:
            tx.element("service-ips", key(ip), f"goto {ext_chain}")
        if uses_fw:
            tx.element("firewall-ips", key(ip), f"goto {fw_chain}")
    if not has_endpoints:
        for ip in p.lb_ips:
            tx.element("no-endpoint-services", key(ip), reject, comment=p.name)
    if p.node_port:
        nodeport_key = f"{p.protocol.lower()} . {p.node_port}"
        if has_endpoints:
            tx.element("service-nodeports", nodeport_key, f"goto {ext_chain}")
        else:
            tx.element("no-endpoint-nodeports", nodeport_key, reject, comment=p.name)

    if uses_ext:
        tx.rule(ext_chain, f"jump {MARK_MASQ}")
        tx.rule(ext_chain, f"goto {svc_chain}")
    if uses_fw:
        sources = [r.strip() for r in p.source_ranges]
        if any(cidr_contains(cidr, ip) for cidr in sources for ip in node_ips):
            sources += list(p.lb_ips)   # a VIP bound on the node loops back with itself as source
        tx.rule(fw_chain, f"{ipx} saddr != {{ {', '.join(sources)} }} drop")
    if p.service.affinity_timeout:
        for _, _, aff in eps:
            tx.add("set", f"{aff} {{ type {addr_type} ; flags dynamic,timeout ; timeout {p.service.affinity_timeout}s ; }}")
    if not has_endpoints:
        return

    if p.service.affinity_timeout:
        for _, chain, aff in eps:
            tx.rule(svc_chain, f"{ipx} saddr @{aff} goto {chain}")
    choices = " , ".join(f"{i} : goto {chain}" for i, (_, chain, _) in enumerate(eps))
    tx.rule(svc_chain, f"numgen random mod {len(eps)} vmap {{ {choices} }}")
    for ep, chain, aff in eps:
        tx.rule(chain, f"{ipx} saddr {ep.ip} jump {MARK_MASQ}")
        if p.service.affinity_timeout:
            tx.rule(chain, f"update @{aff} {{ {ipx} saddr }}")
        tx.rule(chain, f"meta l4proto {p.protocol.lower()} dnat to {host_port(ep.ip, ep.port)}")

