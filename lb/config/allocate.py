"""clusterIP and nodePort allocation, as the API server's registry does it, but
deterministic: the same manifests always give the same values.

clusterIP: a Service whose clusterIP is "" (not headless, not ExternalName) gets one
address per IP family from --service-cluster-ip-range ("CIDR" or "v4CIDR,v6CIDR").
An ExternalName Service with ports gets one address of the range's first family in
forward_ip, lb's own field: lb forwards it to the name (the API stores no clusterIP).
The network address and the first address (the API server keeps it for the
`kubernetes` Service) are never handed out, nor is the IPv4 broadcast address.

nodePort: explicit values must lie in --service-node-port-range and be unique across
all files (k/k pkg/registry/core/service/portallocator: "provided port is not in the
valid range", "provided port is already allocated", "range is full"). Ports of one
Service with the same port number (TCP+UDP 53) share one nodePort, as the registry's
initNodePorts does. Empty nodePorts of NodePort and LoadBalancer Services (unless
allocateLoadBalancerNodePorts is false) are allocated from the band above the static
band, calculateRangeOffset = min(max(16, size/32), 128), falling back to the static band.

Determinism: explicit values are reserved first, in file order (a later document that
repeats a value is the one reported). Then each empty value starts at sha256 of
"namespace/name" (clusterIP) or "namespace/name/port" (nodePort) inside its band and
probes linearly, Services taken in sorted (namespace, name) order. An unrelated
Service therefore moves nobody unless it lands exactly on an occupied probe path.
"""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, replace
from typing import Iterable

from lb.addresses import ip_family, is_ip
from lb.config.model import (
    EXTERNAL_NAME, LOAD_BALANCER, NODE_PORT, Service, Source,
)
from lb.diagnostics import ERROR, Diagnostic, invalid

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FAMILY_OF_VERSION = {4: "IPv4", 6: "IPv6"}
SINGLE_STACK, PREFER_DUAL_STACK, REQUIRE_DUAL_STACK = "SingleStack", "PreferDualStack", "RequireDualStack"
DUAL_STACK_EXAMPLE = "10.96.0.0/12,fd00:10:96::/112"    # kind's dual-stack ranges: lb's default


def parse_cluster_ip_range(text: str) -> tuple[IPNetwork, ...]:
    """"10.96.0.0/12" or "10.96.0.0/12,fd00:10:96::/112" -> networks, primary first.
    Raises ValueError with a one-line message for anything else."""
    parts = [p.strip() for p in (text or "").split(",")]
    if not parts or any(not p for p in parts) or len(parts) > 2:
        raise ValueError(f'invalid service cluster IP range "{text}": expected CIDR or "v4CIDR,v6CIDR"')
    nets = []
    for part in parts:
        try:
            net = ipaddress.ip_network(part, strict=True)
        except ValueError as exc:
            raise ValueError(f'invalid service cluster IP range "{part}": {exc}') from None
        if net.num_addresses < 4:
            raise ValueError(f'invalid service cluster IP range "{part}": too small')
        nets.append(net)
    if len(nets) == 2 and nets[0].version == nets[1].version:
        raise ValueError(f'invalid service cluster IP range "{text}": dual-stack needs one IPv4 and one IPv6 CIDR')
    return tuple(nets)


def parse_node_port_range(text: str) -> range:
    """"30000-32767", "30000+2767" or "30000" -> range (inclusive of the upper bound),
    the forms the API server's --service-node-port-range accepts. Raises ValueError."""
    value = (text or "").strip()
    try:
        if "-" in value:
            low_s, high_s = value.split("-", 1)
            low, high = int(low_s), int(high_s)
        elif "+" in value:
            low_s, size_s = value.split("+", 1)
            low = int(low_s)
            high = low + int(size_s)
        else:
            low = high = int(value)
    except ValueError:
        raise ValueError(f'invalid port range "{text}": expected LOW-HIGH, e.g. 30000-32767') from None
    if not (1 <= low <= high <= 65535):
        raise ValueError(f'invalid port range "{text}": ports must satisfy 1 <= LOW <= HIGH <= 65535')
    return range(low, high + 1)


def range_offset(size: int) -> int:
    """The static band's size: the API server's calculateRangeOffset."""
    return min(max(16, size // 32), 128)


def format_port_range(ports: range) -> str:
    return f"{ports.start}-{ports.stop - 1}"


@dataclass
class AllocationResult:
    services: list[Service]          # allocated, sorted by (namespace, name); failed ones dropped
    diagnostics: list[Diagnostic]


def allocate(services: Iterable[Service], cluster_ip_ranges: tuple[IPNetwork, ...],
             node_ports: range) -> AllocationResult:
    """Fill empty clusterIPs and nodePorts and check explicit nodePorts. Accepts
    validated, defaulted Services; never raises for manifest problems."""
    svcs = list(services)
    diags: list[Diagnostic] = []
    failed: set[str] = set()
    in_file_order = sorted(svcs, key=_file_order)

    ip_alloc = _IPAllocator(cluster_ip_ranges)
    port_alloc = _PortAllocator(node_ports)
    for svc in in_file_order:
        for field, msg in ip_alloc.reserve_explicit(svc) + port_alloc.reserve_explicit(svc):
            diags.append(_error(svc, field, msg))
            failed.add(svc.key)

    out = []
    for svc in sorted(svcs, key=lambda s: (s.namespace, s.name)):
        if svc.key in failed:
            continue
        errors: list[tuple[str, str]] = []
        svc = ip_alloc.fill(svc, errors)
        if not errors:
            svc = port_alloc.fill(svc, errors)
        if errors:
            diags.extend(_error(svc, f, m) for f, m in errors)
            continue
        out.append(svc)
    return AllocationResult(out, diags)


def _file_order(svc: Service):
    src = svc.source
    return src.order() if src else ("", 0, 0), svc.namespace, svc.name


def _error(svc: Service, field: str, message: str) -> Diagnostic:
    src = svc.source or Source.at("<unknown>", 0)
    return Diagnostic(ERROR, src.path, src.line_of(field), message, field=field,
                      kind="Service", namespace=svc.namespace, name=svc.name)


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


def _with_manifest(svc: Service, **changes) -> Service:
    """replace() that also writes allocated values into the defaulted manifest, so
    -o yaml shows what the API server would have stored. svc itself when nothing changes
    (identity tells later stages that nothing did); only the parts written are copied."""
    if all(getattr(svc, name) == value for name, value in changes.items()):
        return svc
    manifest = dict(svc.manifest) if svc.manifest else None
    if manifest is not None:
        spec = manifest["spec"] = dict(manifest.get("spec") or {})
        if "ports" in changes:
            spec["ports"] = [dict(raw) for raw in spec.get("ports") or []]
        if "cluster_ip" in changes:
            spec["clusterIP"] = changes["cluster_ip"]
            spec["clusterIPs"] = list(changes["cluster_ips"])
        if "ip_families" in changes:
            spec["ipFamilies"] = list(changes["ip_families"])
            spec["ipFamilyPolicy"] = changes["ip_family_policy"]
        if "ports" in changes:
            for raw, sp in zip(spec.get("ports") or [], changes["ports"]):
                if sp.node_port:
                    raw["nodePort"] = sp.node_port
    return replace(svc, manifest=manifest, **changes)


class _IPAllocator:
    def __init__(self, nets: tuple[IPNetwork, ...]):
        self.nets = {FAMILY_OF_VERSION[n.version]: n for n in nets}
        self.primary = FAMILY_OF_VERSION[nets[0].version] if nets else "IPv4"
        self.taken: dict[ipaddress._BaseAddress, str] = {}

    def reserve_explicit(self, svc: Service) -> list[tuple[str, str]]:
        errors = []
        ips = svc.cluster_ips or ((svc.cluster_ip,) if svc.cluster_ip else ())
        for i, text in enumerate(ips):
            if text in ("", "None"):
                continue
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue   # validate.py reports malformed IPs
            owner = self.taken.get(ip)
            if owner is not None and owner != svc.key:
                # Explicit IPs outside the range are accepted: a standalone balancer may
                # serve any VIP. Only a second owner is an error.
                errors.append((f"spec.clusterIPs[{i}]" if svc.cluster_ips else "spec.clusterIP",
                               invalid(text, f"failed to allocate IP {text}: provided IP is already allocated")))
            else:
                self.taken[ip] = svc.key
        return errors

    def wanted_families(self, svc: Service, errors: list) -> tuple[str, ...]:
        policy = svc.ip_family_policy or SINGLE_STACK
        families = list(svc.ip_families)
        if not families:
            families = [self.primary]
            if policy != SINGLE_STACK and len(self.nets) == 2:
                families.append(_other(self.primary))
        elif len(families) == 1 and policy != SINGLE_STACK and len(self.nets) == 2:
            families.append(_other(families[0]))
        if policy == REQUIRE_DUAL_STACK and len(self.nets) < 2:
            errors.append(("spec.ipFamilyPolicy", invalid(policy, "this cluster is not configured for dual-stack services" + self._hint())))
            return tuple(families)
        for i, fam in enumerate(families):
            # PreferDualStack takes what the cluster has; the others insist
            if fam not in self.nets and policy != PREFER_DUAL_STACK:
                errors.append((f"spec.ipFamilies[{i}]", invalid(fam, "not configured on this cluster" + self._hint(fam))))
        return tuple(families)

    def fill(self, svc: Service, errors: list) -> Service:
        if svc.type == EXTERNAL_NAME:
            return self._fill_forward_ip(svc, errors)
        policy = svc.ip_family_policy or SINGLE_STACK
        if svc.headless:
            if svc.ip_families and svc.ip_family_policy:
                return svc
            fams = self.wanted_families(svc, [])
            fams = tuple(f for f in fams if f in self.nets) or (self.primary,)
            return _with_manifest(svc, ip_families=fams, ip_family_policy=policy)
        ips = [ip for ip in (svc.cluster_ips or ((svc.cluster_ip,) if svc.cluster_ip else ())) if is_ip(ip)]
        have = [ip_family(ip) for ip in ips]
        if ips:
            # explicit IPs name their families; a dual-stack policy may add the other one
            families = list(have)
            if len(have) == 1 and policy != SINGLE_STACK:
                if len(self.nets) == 2:
                    families.append(_other(have[0]))
                elif policy == REQUIRE_DUAL_STACK:
                    errors.append(("spec.ipFamilyPolicy",
                                   invalid(policy, "this cluster is not configured for dual-stack services" + self._hint())))
        else:
            families = list(self.wanted_families(svc, errors))
        if errors:
            return svc
        for fam in families:
            if fam in have or fam not in self.nets:
                continue
            ip = self._next(self.nets[fam], svc.key)
            if ip is None:
                errors.append(("spec.clusterIPs", "Internal error: failed to allocate a serviceIP: range is full"))
                return svc
            self.taken[ip] = svc.key
            ips.append(str(ip))
            have.append(fam)
        if not ips:
            return svc
        if svc.ip_family_policy is None:
            # the registry's default: two IPs without a policy require dual-stack
            policy = REQUIRE_DUAL_STACK if len(ips) == 2 else SINGLE_STACK
        return _with_manifest(svc, cluster_ip=ips[0], cluster_ips=tuple(ips),
                              ip_families=tuple(have), ip_family_policy=policy)

    def _hint(self, family: str | None = None) -> str:
        """lb's addition to the API server's words: the flag that configures the families."""
        missing = family or _other(self.primary)
        ranges = ",".join(str(n) for n in self.nets.values())
        return (f" (lb: --service-cluster-ip-range {ranges} has no {missing} range; give one CIDR of each "
                f'family, e.g. --service-cluster-ip-range "{DUAL_STACK_EXAMPLE}", the default)')

    def _fill_forward_ip(self, svc: Service, errors: list) -> Service:
        if not svc.ports or svc.forward_ip or self.primary not in self.nets:
            return svc
        ip = self._next(self.nets[self.primary], svc.key)
        if ip is None:
            errors.append(("spec.ports", "Internal error: failed to allocate a serviceIP: range is full"))
            return svc
        self.taken[ip] = svc.key
        return replace(svc, forward_ip=str(ip))

    def _next(self, net: IPNetwork, key: str):
        # offsets 2 .. size-1 (v4: size-2, no broadcast): not the network, not .1
        first = 2
        last = net.num_addresses - (2 if net.version == 4 else 1)
        count = last - first + 1
        if count <= 0:
            return None
        start = _stable_hash(key) % count
        base = int(net.network_address)
        for step in range(min(count, len(self.taken) + 1)):
            ip = ipaddress.ip_address(base + first + (start + step) % count)
            if ip not in self.taken:
                return ip
        return None


def _other(family: str) -> str:
    return "IPv6" if family == "IPv4" else "IPv4"


def _wants_node_ports(svc: Service) -> bool:
    if svc.type == NODE_PORT:
        return True
    if svc.type != LOAD_BALANCER:
        return False
    return svc.allocate_load_balancer_node_ports


class _PortAllocator:
    def __init__(self, ports: range):
        self.ports = ports
        offset = min(range_offset(len(ports)), len(ports))
        self.static = ports[:offset]
        self.dynamic = ports[offset:]
        self.taken: dict[int, str] = {}

    def reserve_explicit(self, svc: Service) -> list[tuple[str, str]]:
        errors = []
        for i, sp in enumerate(svc.ports):
            if not sp.node_port:
                continue
            field = f"spec.ports[{i}].nodePort"
            if sp.node_port not in self.ports:
                errors.append((field, invalid(sp.node_port, "provided port is not in the valid range. "
                                              f"The range of valid ports is {format_port_range(self.ports)}")))
                continue
            owner = self.taken.get(sp.node_port)
            if owner is not None and owner != svc.key:
                errors.append((field, invalid(sp.node_port, "provided port is already allocated")))
                continue
            self.taken[sp.node_port] = svc.key
        return errors

    def fill(self, svc: Service, errors: list) -> Service:
        if not _wants_node_ports(svc) or all(sp.node_port for sp in svc.ports):
            return svc
        by_port = {sp.port: sp.node_port for sp in svc.ports if sp.node_port}
        new_ports = []
        for i, sp in enumerate(svc.ports):
            if not sp.node_port:
                np = by_port.get(sp.port)
                if np is None:
                    np = self._next(f"{svc.key}/{sp.port}")
                    if np is None:
                        errors.append((f"spec.ports[{i}].nodePort",
                                       "Internal error: failed to allocate a nodePort: range is full"))
                        return svc
                    self.taken[np] = svc.key
                    by_port[sp.port] = np
                sp = replace(sp, node_port=np)
            new_ports.append(sp)
        return _with_manifest(svc, ports=tuple(new_ports))

    def _next(self, key: str) -> int | None:
        h = _stable_hash(key)
        for band in (self.dynamic, self.static):
            n = len(band)
            if not n:
                continue
            start = h % n
            for step in range(n):
                port = band[(start + step) % n]
                if port not in self.taken:
                    return port
        return None
