"""The iptables-restore input kube-proxy's iptables mode would write for a Snapshot.

Shape: kube-proxy v1.31 (pkg/proxy/iptables/proxier.go syncProxyRules): KUBE-SVC chains
for Cluster policy, KUBE-EXT chains for externally reachable ports (externalIPs, load
balancer IPs, nodePorts), KUBE-FW for loadBalancerSourceRanges, REJECT rules for ports
without endpoints in the filter table. Endpoint choice is
`-m statistic --mode random --probability 1/(n-i)` ("%0.10f"), last rule unconditional;
ClientIP affinity is `-m recent` per endpoint. Rules are written as kube-proxy writes
them to iptables-restore, not as iptables-save prints them back (no "/32", no
"--mask 255.255.255.255 --rsource", which are the defaults iptables adds).

Assumed kube-proxy flags: defaults, with --masquerade-all=false, no --cluster-cidr (so no
"! -s <podCIDR> -j KUBE-MARK-MASQ" rule in KUBE-SVC chains), masquerade bit 14 (0x4000),
--iptables-localhost-nodeports=true, --conntrack-tcp-be-liberal=false, no nfacct, and
--nodeport-addresses = the given node IPs (none: every local address).

Two additions so the output loads by itself: the built-in chains with the jump rules
kube-proxy adds with `iptables -I` (iptablesJumpChains, in the order repeated prepends
leave them), and a header comment. iptables-restore without --noflush therefore replaces
the whole filter and nat tables: load it into a dedicated network namespace.
"""
from __future__ import annotations

from lb.addresses import host_port
from lb.render import naming
from lb.addresses import cidr_contains
from lb.render.plan import family_ips, port_plans
from lb.snapshot import ServicePortView, Snapshot

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"     # kubelet's chain; kube-proxy fills it too (IPv4)
MASQUERADE_MARK = "0x4000"          # 1 << --iptables-masquerade-bit (14)
KUBE_PROXY_VERSION = "v1.31"
NODEPORTS_COMMENT = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"

# (table, chain jumped to, built-in chain, comment, extra match) in kube-proxy's order;
# each is inserted at the top of its built-in chain (iptables -I), kubelet's last.
_CT_NEW = "-m conntrack --ctstate NEW"
JUMP_CHAINS = (
    ("filter", KUBE_EXTERNAL_SERVICES, "INPUT", "kubernetes externally-visible service portals", _CT_NEW),
    ("filter", KUBE_EXTERNAL_SERVICES, "FORWARD", "kubernetes externally-visible service portals", _CT_NEW),
    ("filter", KUBE_NODEPORTS, "INPUT", "kubernetes health check service ports", ""),
    ("filter", KUBE_SERVICES, "FORWARD", "kubernetes service portals", _CT_NEW),
    ("filter", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", _CT_NEW),
    ("filter", KUBE_FORWARD, "FORWARD", "kubernetes forwarding rules", ""),
    ("filter", KUBE_PROXY_FIREWALL, "INPUT", "kubernetes load balancer firewall", _CT_NEW),
    ("filter", KUBE_PROXY_FIREWALL, "OUTPUT", "kubernetes load balancer firewall", _CT_NEW),
    ("filter", KUBE_PROXY_FIREWALL, "FORWARD", "kubernetes load balancer firewall", _CT_NEW),
    ("nat", KUBE_SERVICES, "OUTPUT", "kubernetes service portals", ""),
    ("nat", KUBE_SERVICES, "PREROUTING", "kubernetes service portals", ""),
    ("nat", KUBE_POSTROUTING, "POSTROUTING", "kubernetes postrouting rules", ""),
)
KUBELET_JUMP_CHAINS = (
    ("filter", KUBE_FIREWALL, "INPUT", "", ""),
    ("filter", KUBE_FIREWALL, "OUTPUT", "", ""),
)
BUILTIN_CHAINS = {"filter": ("INPUT", "FORWARD", "OUTPUT"),
                  "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")}


def comment(text: str) -> str:
    """-m comment, quoted only when needed, as kube-proxy writes it."""
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


def probability(n: int) -> str:
    """kube-proxy's computeProbability: 1/n with ten decimals."""
    return "%0.10f" % (1.0 / n)


def render_iptables(snapshot: Snapshot, family: int = 4, node_ips=(),
                    warnings: list[str] | None = None) -> str:
    """iptables-restore input (ip6tables-restore for family=6) with the tables filter and
    nat. node_ips: addresses that accept nodePorts; empty means every local address."""
    ipv6 = family == 6
    node_ips = family_ips(node_ips, family)
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]
    filter_rules: list[str] = []
    nat_chains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ]
    nat_rules = [
        f"-A {KUBE_POSTROUTING} -m mark ! --mark {MASQUERADE_MARK}/{MASQUERADE_MARK} -j RETURN",
        f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {MASQUERADE_MARK}",
        f"-A {KUBE_POSTROUTING} {comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully",
        f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {MASQUERADE_MARK}",
    ]
    if not ipv6:
        # route_localnet makes 127.0.0.1:nodePort work; this closes the hole it opens (#90259).
        filter_chains.append(KUBE_FIREWALL)
        filter_rules.append(
            f"-A {KUBE_FIREWALL} {comment('block incoming localnet connections')} -d 127.0.0.0/8 "
            "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")

    for plan in port_plans(snapshot, family, warnings):
        _service_port_rules(plan, node_ips, filter_rules, nat_chains, nat_rules)

    if not node_ips:
        dest = "-m addrtype --dst-type LOCAL" + (" ! -d ::1/128" if ipv6 else "")
        nat_rules.append(f"-A {KUBE_SERVICES} {comment(NODEPORTS_COMMENT)} {dest} -j {KUBE_NODEPORTS}")
    for ip in node_ips:
        if ipv6 and ip == "::1":
            continue    # localhost nodePorts never work on IPv6
        nat_rules.append(f"-A {KUBE_SERVICES} {comment(NODEPORTS_COMMENT)} -d {ip} -j {KUBE_NODEPORTS}")

    filter_rules += [
        f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP",
        f"-A {KUBE_FORWARD} {comment('kubernetes forwarding rules')} "
        f"-m mark --mark {MASQUERADE_MARK}/{MASQUERADE_MARK} -j ACCEPT",
        f"-A {KUBE_FORWARD} {comment('kubernetes forwarding conntrack rule')} "
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]

    jumps = JUMP_CHAINS + (() if ipv6 else KUBELET_JUMP_CHAINS)
    tool = "ip6tables-restore" if ipv6 else "iptables-restore"
    out = [f"# kube-proxy {KUBE_PROXY_VERSION} iptables mode, IPv{family}, rendered by lb.",
           f"# {tool} replaces the filter and nat tables: load it in a dedicated network namespace."]
    for table, chains, rules in (("filter", filter_chains, filter_rules), ("nat", nat_chains, nat_rules)):
        out.append(f"*{table}")
        out += [f":{c} ACCEPT [0:0]" for c in BUILTIN_CHAINS[table]]
        out += [f":{c} - [0:0]" for c in chains]
        out += _jump_rules(table, jumps)
        out += rules
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def _jump_rules(table: str, jumps) -> list[str]:
    by_chain: dict[str, list[str]] = {}
    for tbl, dst, src, text, extra in jumps:
        if tbl != table:
            continue
        args = " ".join(a for a in (extra, comment(text) if text else "") if a)
        by_chain.setdefault(src, []).insert(0, f"-A {src} {args + ' ' if args else ''}-j {dst}")
    return [rule for chain in BUILTIN_CHAINS[table] for rule in by_chain.get(chain, [])]


def _service_port_rules(p: ServicePortView, node_ips, filter_rules, nat_chains, nat_rules) -> None:
    protocol = p.protocol.lower()
    proto = f"-m {protocol} -p {protocol}"
    svc_chain = naming.iptables_svc_chain(p.name, protocol)
    ext_chain = naming.iptables_ext_chain(p.name, protocol)
    fw_chain = naming.iptables_fw_chain(p.name, protocol)
    has_endpoints = bool(p.usable)
    uses_ext = has_endpoints and p.externally_accessible
    uses_fw = has_endpoints and bool(p.lb_ips) and bool(p.source_ranges)
    lb_target = fw_chain if uses_fw else ext_chain
    no_ep = comment(f"{p.name} has no endpoints")

    def dest(ip: str) -> str:
        return f"{proto} -d {ip} --dport {p.port}"

    if has_endpoints:
        nat_rules.append(f"-A {KUBE_SERVICES} {comment(p.name + ' cluster IP')} {dest(p.cluster_ip)} -j {svc_chain}")
    else:
        filter_rules.append(f"-A {KUBE_SERVICES} {no_ep} {dest(p.cluster_ip)} -j REJECT")
    for ip in p.external_ips:
        if has_endpoints:
            nat_rules.append(f"-A {KUBE_SERVICES} {comment(p.name + ' external IP')} {dest(ip)} -j {ext_chain}")
        else:
            filter_rules.append(f"-A {KUBE_EXTERNAL_SERVICES} {no_ep} {dest(ip)} -j REJECT")
    for ip in p.lb_ips:
        if has_endpoints:
            nat_rules.append(f"-A {KUBE_SERVICES} {comment(p.name + ' loadbalancer IP')} {dest(ip)} -j {lb_target}")
        if uses_fw:
            filter_rules.append(f"-A {KUBE_PROXY_FIREWALL} "
                                f"{comment(f'{p.name} traffic not accepted by {fw_chain}')} {dest(ip)} -j DROP")
    if not has_endpoints:
        filter_rules += [f"-A {KUBE_EXTERNAL_SERVICES} {no_ep} {dest(ip)} -j REJECT" for ip in p.lb_ips]
    if p.node_port:
        if has_endpoints:
            nat_rules.append(f"-A {KUBE_NODEPORTS} {comment(p.name)} {proto} --dport {p.node_port} -j {ext_chain}")
        else:
            filter_rules.append(f"-A {KUBE_EXTERNAL_SERVICES} {no_ep} -m addrtype --dst-type LOCAL "
                                f"{proto} --dport {p.node_port} -j REJECT")
    if not has_endpoints:
        return   # no nat chains at all for this port

    if uses_ext:
        nat_chains.append(ext_chain)
        nat_rules.append(f"-A {ext_chain} {comment(f'masquerade traffic for {p.name} external destinations')} "
                         f"-j {KUBE_MARK_MASQ}")
        nat_rules.append(f"-A {ext_chain} -j {svc_chain}")
    if uses_fw:
        nat_chains.append(fw_chain)
        fw = f"-A {fw_chain} {comment(p.name + ' loadbalancer IP')}"
        nat_rules += [f"{fw} -s {cidr.strip()} -j {ext_chain}" for cidr in p.source_ranges]
        if any(cidr_contains(cidr, ip) for cidr in p.source_ranges for ip in node_ips):
            # a VIP bound on the node loops back with itself as source
            nat_rules += [f"{fw} -s {ip} -j {ext_chain}" for ip in p.lb_ips]
        nat_rules.append(f"-A {fw_chain} "
                         f"{comment(f'other traffic to {p.name} will be dropped by KUBE-PROXY-FIREWALL')}")

    nat_chains.append(svc_chain)
    seps = [(ep, host_port(ep.ip, ep.port)) for ep in p.usable]
    sep_chains = {addr: naming.iptables_sep_chain(p.name, protocol, addr) for _, addr in seps}
    if p.service.affinity_timeout:
        for _, addr in seps:
            nat_rules.append(f"-A {svc_chain} {comment(f'{p.name} -> {addr}')} -m recent --name {sep_chains[addr]} "
                             f"--rcheck --seconds {p.service.affinity_timeout} --reap -j {sep_chains[addr]}")
    n = len(seps)
    for i, (_, addr) in enumerate(seps):
        stat = f" -m statistic --mode random --probability {probability(n - i)}" if i < n - 1 else ""
        nat_rules.append(f"-A {svc_chain} {comment(f'{p.name} -> {addr}')}{stat} -j {sep_chains[addr]}")

    for ep, addr in seps:
        sep = sep_chains[addr]
        nat_chains.append(sep)
        nat_rules.append(f"-A {sep} {comment(p.name)} -s {ep.ip} -j {KUBE_MARK_MASQ}")
        recent = f" -m recent --name {sep} --set" if p.service.affinity_timeout else ""
        nat_rules.append(f"-A {sep} {comment(p.name)}{recent} {proto} -j DNAT --to-destination {addr}")

