"""`lb render`: the rules kube-proxy would program for the same manifests, so lb can be
benchmarked against kube-proxy driven by identical Services and endpoints.

One module per mode: iptables (iptables-restore input), nftables (nft -f input), ipvs
(ipvsadm-restore input); naming holds kube-proxy's chain hashing, plan what each mode
shares (which service ports, frontends and endpoints one IP family sees).
"""
from __future__ import annotations

from lb.render.iptables import render_iptables
from lb.render.ipvs import render_ipvs
from lb.render.nftables import render_nftables
from lb.render.plan import port_plans
from lb.settings import DEFAULT_SCHEDULER
from lb.snapshot import Snapshot

MODES = ("iptables", "nftables", "ipvs")

__all__ = ["MODES", "render", "render_iptables", "render_nftables", "render_ipvs"]


def render(snapshot: Snapshot, mode: str, node_ips=(), warnings: list[str] | None = None,
           scheduler: str = DEFAULT_SCHEDULER) -> str:
    """The ruleset for `mode`: iptables gives the IPv4 iptables-restore input (IPv6 is
    render_iptables(snapshot, family=6)), nftables the `ip` and then the `ip6` table (the
    latter only when there are IPv6 services), ipvs every virtual server of both
    families, each with its lb.io/scheduler or else `scheduler`. node_ips: addresses serving
    nodePorts (--node-ip). Notes a user should see
    (skipped ports, approximations) are appended to `warnings` when given."""
    if mode == "iptables":
        return render_iptables(snapshot, 4, node_ips, warnings)
    if mode == "nftables":
        out = render_nftables(snapshot, 4, node_ips, warnings)
        if _has_family(snapshot, 6):
            out += render_nftables(snapshot, 6, node_ips, warnings)
        return out
    if mode == "ipvs":
        return render_ipvs(snapshot, node_ips, scheduler, warnings=warnings)
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")


def _has_family(snapshot: Snapshot, family: int) -> bool:
    return bool(port_plans(snapshot, family))
