"""Endpoint resolution: which backends each Service port has, as kube-proxy sees them.

Sources, per Service (joined by namespace + service name):
  * EndpointSets from the files (Endpoints subsets and EndpointSlices), merged;
  * otherwise, for a Service with a selector, the EndpointSlices the endpoint
    controller would write from the Pods in the files (endpoint_sets_from_pods).

Matching (k/k pkg/proxy/endpointslicecache.go): an endpoint port feeds the Service
port with the same name and protocol ("" for an unnamed single port); the Service's
targetPort plays no part here, the controller already resolved it. Endpoints are
de-duplicated by ip:port (the most ready copy wins) and sorted by (address, port).

Readiness (k/k pkg/proxy/topology.go CategorizeEndpoints): usable = ready endpoints,
else the serving+terminating ones. publishNotReadyAddresses makes every endpoint ready.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import Iterable

from lb.config.model import (
    EXTERNAL_NAME, EndpointAddress, EndpointPort, EndpointSet, Pod, Service,
    ServicePort,
)
from lb.snapshot import ResolvedEndpoint, ResolvedPort, ServiceView

TERMINAL_PHASES = ("Succeeded", "Failed")


def resolve(services: Iterable[Service], endpoint_sets: Iterable[EndpointSet],
            pods: Iterable[Pod]) -> tuple[tuple[ServiceView, ...], tuple[EndpointSet, ...]]:
    """Views for every Service (sorted by namespace, name), and the EndpointSets the
    controller would have generated from Pods (for Services that had none in files)."""
    by_service: dict[tuple[str, str], list[EndpointSet]] = {}
    for es in endpoint_sets:
        by_service.setdefault((es.namespace, es.service_name), []).append(es)
    pods = tuple(pods)
    views, generated = [], []
    for svc in sorted(services, key=lambda s: (s.namespace, s.name)):
        sets = by_service.get((svc.namespace, svc.name))
        if not sets and svc.selector and svc.type != EXTERNAL_NAME:
            # the EndpointSlice controller gives ExternalName Services nothing
            sets = list(endpoint_sets_from_pods(svc, pods))
            generated.extend(sets)
        views.append(resolve_service(svc, sets or ()))
    return tuple(views), tuple(generated)


def resolve_service(svc: Service, endpoint_sets: Iterable[EndpointSet]) -> ServiceView:
    """One ServiceView from the EndpointSets already joined to svc."""
    sets = sorted(endpoint_sets, key=lambda es: (es.kind, es.name))
    ports = []
    for sp in svc.ports:
        merged: dict[tuple[str, int], ResolvedEndpoint] = {}
        for es in sets:
            for ep_port in es.ports:
                if ep_port.name != sp.name or ep_port.protocol != sp.protocol or not ep_port.port:
                    continue
                for addr in es.addresses:
                    ep = _resolved(addr, ep_port.port, svc.publish_not_ready_addresses)
                    key = (ep.ip, ep.port)
                    if key not in merged or _rank(ep) > _rank(merged[key]):
                        merged[key] = ep
        endpoints = tuple(sorted(merged.values(), key=endpoint_sort_key))
        ports.append(ResolvedPort(sp, endpoints, usable_endpoints(endpoints)))
    return ServiceView(svc, tuple(ports))


def usable_endpoints(endpoints: tuple[ResolvedEndpoint, ...]) -> tuple[ResolvedEndpoint, ...]:
    """kube-proxy's choice: ready ones; if none, serving and terminating ones."""
    ready = tuple(ep for ep in endpoints if ep.ready)
    if ready:
        return ready
    return tuple(ep for ep in endpoints if ep.serving and ep.terminating)


def endpoint_sort_key(ep: ResolvedEndpoint):
    return (*ip_sort_key(ep.ip), ep.port)


def ip_sort_key(ip: str) -> tuple[int, int, str]:
    """Numeric address order, IPv4 before IPv6; junk last and by text."""
    try:
        addr = ipaddress.ip_address(ip)
        return (addr.version, int(addr), "")
    except ValueError:
        return (99, 0, ip)


def _rank(ep: ResolvedEndpoint) -> tuple[bool, bool, bool]:
    return (ep.ready, ep.serving, not ep.terminating)


def _resolved(addr: EndpointAddress, port: int, publish_not_ready: bool) -> ResolvedEndpoint:
    return ResolvedEndpoint(
        ip=addr.ip, port=port, ready=addr.ready or publish_not_ready, serving=addr.serving,
        terminating=addr.terminating, hostname=addr.hostname, node_name=addr.node_name,
        target_ref=addr.target_ref)


# --- what the EndpointSlice controller would write -------------------------------

def selects(selector, labels) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def find_port(pod: Pod, sp: ServicePort) -> int | None:
    """podutil.FindPort: a numeric targetPort is used as is; a name is looked up in
    the Pod's containerPorts by name and protocol. None: the Pod lacks that port."""
    if isinstance(sp.target_port, int):
        return sp.target_port
    if isinstance(sp.target_port, str) and sp.target_port.isdigit():
        return int(sp.target_port)
    for cp in pod.container_ports:
        if cp.name == sp.target_port and cp.protocol == sp.protocol:
            return cp.container_port
    return None


def endpoint_sets_from_pods(svc: Service, pods: Iterable[Pod]) -> tuple[EndpointSet, ...]:
    """The EndpointSlices the controller would create for svc: matching Pods with
    IPs, not in a terminal phase; ready = publishNotReadyAddresses or (Ready and not
    terminating), serving = Ready. Pods whose named targetPort does not resolve lose
    that port; Pods that resolve to different numbers land in different slices."""
    groups: dict[tuple[str, tuple[EndpointPort, ...]], list[EndpointAddress]] = {}
    families = set(svc.ip_families)
    for pod in sorted(pods, key=lambda p: p.name):
        if pod.namespace != svc.namespace or not selects(svc.selector, pod.labels):
            continue
        if not pod.ips or pod.phase in TERMINAL_PHASES:
            continue
        ports = []
        for sp in svc.ports:
            number = find_port(pod, sp)
            if number is not None:
                ports.append(EndpointPort(sp.name, number, sp.protocol, sp.app_protocol))
        ports_key = tuple(ports)
        if svc.ports and not ports:
            continue
        hostname = pod.hostname if pod.hostname and pod.subdomain == svc.name else None
        ready = svc.publish_not_ready_addresses or (pod.ready and not pod.terminating)
        for family in _families_of(pod.ips):
            if families and family not in families:
                continue
            ip = next(ip for ip in pod.ips if _family(ip) == family)
            addr = EndpointAddress(ip=ip, ready=ready, serving=pod.ready, terminating=pod.terminating,
                                   hostname=hostname, node_name=pod.node_name, target_ref=f"Pod/{pod.name}")
            groups.setdefault((family, ports_key), []).append(addr)
    out = []
    for (family, ports_key), addrs in sorted(groups.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))):
        name = generated_name(svc, family, ports_key)
        out.append(EndpointSet(
            namespace=svc.namespace, service_name=svc.name, kind="EndpointSlice", name=name,
            address_type=family, addresses=tuple(addrs), ports=ports_key, source=svc.source,
            manifest=_slice_manifest(svc, name, family, addrs, ports_key)))
    return tuple(out)


def generated_name(svc: Service, family: str, ports: tuple[EndpointPort, ...]) -> str:
    """"<service>-<5 chars>", like generateName, but stable across runs."""
    digest = hashlib.sha256(f"{svc.key}/{family}/{ports!r}".encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"   # apimachinery's rand alphabet
    n = int(digest, 16)
    suffix = ""
    for _ in range(5):
        n, r = divmod(n, len(alphabet))
        suffix += alphabet[r]
    return f"{svc.name[:57]}-{suffix}"


def _family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def _families_of(ips: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(_family(ip) for ip in ips))


def _slice_manifest(svc: Service, name: str, family: str, addrs: list[EndpointAddress],
                    ports: tuple[EndpointPort, ...]) -> dict:
    endpoints = []
    for a in addrs:
        ep = {"addresses": [a.ip],
              "conditions": {"ready": a.ready, "serving": a.serving, "terminating": a.terminating}}
        if a.hostname:
            ep["hostname"] = a.hostname
        if a.node_name:
            ep["nodeName"] = a.node_name
        if a.target_ref:
            kind, _, ref_name = a.target_ref.partition("/")
            ep["targetRef"] = {"kind": kind, "name": ref_name, "namespace": svc.namespace}
        endpoints.append(ep)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": svc.namespace,
                     "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                "kubernetes.io/service-name": svc.name}},
        "addressType": family,
        "endpoints": endpoints,
        "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in ports],
    }


__all__ = ["resolve", "resolve_service", "usable_endpoints", "endpoint_sets_from_pods", "find_port",
           "selects", "endpoint_sort_key", "ip_sort_key", "generated_name"]
