"""What the bench takes from the user's manifests: which Service port each workload
drives, which endpoint addresses need a host, which servers run on them, and which
Service ports no workload can use (with the reason).

The manifests are read with lb's own loader (lb.config.loader.load_paths +
lb.snapshot.build.build_snapshot), so every mode serves the Services and endpoints lb
itself would: `Snapshot.service_ports()` gives the virtual servers and the usable
endpoints. The topology is IPv4; a dual-stack Service is used through its IPv4 view.

Workloads need a server on each endpoint of the Service port they drive:
- `http` (wrk, idle connections, scale): an HTTP server on every usable endpoint; the
  TCP port with the most usable endpoints is chosen (balancing is what is measured).
- `bulk` (iperf3): iperf3's control connection and its data connections must reach the
  same server, so the port needs one usable endpoint or ClientIP affinity, and an
  endpoint port that the HTTP target does not already use.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from lb.config.loader import load_paths
from lb.diagnostics import errors_of
from lb.snapshot import ServicePortView, Snapshot
from lb.snapshot.build import build_snapshot

DEFAULT_MANIFESTS = Path(__file__).resolve().parents[2] / "bench" / "manifests"
MAX_ENDPOINT_HOSTS = 32     # one network namespace and veth pair each

HTTP, IPERF3 = "http", "iperf3"        # the servers a workload needs on its endpoints
NO_TARGET = {    # why a workload that drives this target cannot run
    "http": "no TCP Service port with usable IPv4 endpoints (see the skipped Services)",
    "bulk": "no TCP Service port with one endpoint or ClientIP affinity on an endpoint port of its own "
            "(iperf3's connections must meet one server; see the skipped Services)",
}


@dataclass(frozen=True)
class Target:
    """One Service port a workload drives: its first clusterIP and its usable endpoints."""
    name: str                              # ServicePortName: "ns/svc:port" or "ns/svc"
    ip: str
    port: int
    endpoints: tuple[tuple[str, int], ...]
    affinity: bool

    @property
    def first_endpoint(self) -> tuple[str, int]:
        return self.endpoints[0]


@dataclass(frozen=True)
class BenchServices:
    paths: tuple[str, ...]
    snapshot: Snapshot
    http: Target | None
    bulk: Target | None
    skipped: tuple[tuple[str, str], ...]           # (service port, why no workload drives it)
    errors: tuple[str, ...]                        # manifest errors (the valid objects still load)
    servers: dict = field(default_factory=dict)    # (ip, port) -> HTTP or IPERF3

    @property
    def endpoint_ips(self) -> tuple[str, ...]:
        """Every address that needs a host, in a stable order."""
        return tuple(sorted({ip for ip, _ in self.servers}, key=_ip_key))

    def addresses(self) -> set[str]:
        """Every IPv4 address the manifests use (virtual servers and endpoints): the
        topology's own link addresses must avoid them."""
        out: set[str] = set()
        for view in self.snapshot.service_ports():
            out.update(fe.ip for fe in view.frontends if fe.ip)
            out.update(ep.ip for ep in view.endpoints)
        return out


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(x) for x in ip.split("."))


def _target(view: ServicePortView) -> Target:
    return Target(view.name, view.cluster_ip, view.port, tuple((ep.ip, ep.port) for ep in view.usable),
                  bool(view.service.affinity_timeout))


def _why_no_virtual_server(svc) -> str | None:
    if svc.type == "ExternalName":
        return "ExternalName: a DNS alias, no virtual server"
    if svc.headless:
        return "headless (clusterIP: None): no virtual server"
    if not svc.ports:
        return "no ports"
    return None


def _why_unusable(view: ServicePortView) -> str | None:
    """Why no workload can drive this Service port whatever its endpoints, or None."""
    if view.protocol != "TCP":
        return f"{view.protocol}: no workload drives {view.protocol} yet"
    v4 = view.of_family(4)
    if not v4.cluster_ip:
        return "IPv6 only: the bench topology is IPv4"
    if not v4.usable:
        return "no usable IPv4 endpoints"
    if any(ipaddress.ip_address(ip).is_loopback for ip in (v4.cluster_ip, *(ep.ip for ep in v4.usable))):
        return "loopback addresses (127.0.0.0/8) do not leave a network namespace"
    if len({ep.ip for ep in v4.usable}) > MAX_ENDPOINT_HOSTS:
        return f"more than {MAX_ENDPOINT_HOSTS} endpoint addresses (one namespace each)"
    return None


def choose_targets(snapshot: Snapshot, paths=(), errors=()) -> BenchServices:
    """Pick the HTTP and bulk targets among the snapshot's Service ports and list the rest
    as skipped with the reason."""
    usable: list[ServicePortView] = []
    skipped: list[tuple[str, str]] = []
    for service_view in snapshot.services:
        why = _why_no_virtual_server(service_view.service)
        if why:
            skipped.append((service_view.service.key, why))
            continue
        for view in service_view.port_views():
            why = _why_unusable(view)
            if why:
                skipped.append((view.name, why))
            else:
                usable.append(view.of_family(4))
    http_view = max(usable, key=lambda v: len(v.usable), default=None)   # first of the largest
    servers: dict[tuple[str, int], str] = {}
    if http_view is not None:
        servers.update({(ep.ip, ep.port): HTTP for ep in http_view.usable})
    bulk_view = None
    candidates = [v for v in usable if v is not http_view]
    for view in sorted(candidates, key=lambda v: len(v.usable)):
        eps = {(ep.ip, ep.port) for ep in view.usable}
        if len(eps) > 1 and not view.service.affinity_timeout:
            continue
        if eps & servers.keys():
            continue
        bulk_view = view
        servers.update({ep: IPERF3 for ep in eps})
        break
    for view in candidates:
        if view is bulk_view:
            continue
        eps = {(ep.ip, ep.port) for ep in view.usable}
        if eps <= {ep for ep, kind in servers.items() if kind == HTTP}:
            why = f"the same endpoints as the HTTP target {http_view.name}"
        elif eps & servers.keys():
            why = "its endpoints' ports already run another workload's server"
        elif bulk_view is None:
            why = "several endpoints without ClientIP affinity: iperf3's connections would be split"
        else:
            why = f"not needed: {http_view.name} is the HTTP target and {bulk_view.name} the bulk one"
        skipped.append((view.name, why))
    return BenchServices(tuple(paths), snapshot, http_view and _target(http_view),
                         bulk_view and _target(bulk_view), tuple(skipped), tuple(errors), servers)


def load_bench_services(paths) -> BenchServices:
    """Read the manifests as `lb run -f` does and choose the targets. Manifest errors are
    kept as messages: the valid objects still load, as in lb run."""
    paths = tuple(os.path.abspath(p) for p in paths)     # lb run is started in another folder
    results = load_paths(paths)
    snapshot = build_snapshot(results)
    errors = tuple(str(d) for d in errors_of(snapshot.diagnostics))
    return choose_targets(snapshot, paths, errors)
