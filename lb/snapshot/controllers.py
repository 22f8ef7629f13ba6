"""What the control plane's controllers would write, for a cluster that has none.

lb reads manifests, not a live cluster, so two controllers' outputs are derived here:
  * the EndpointSlice controller's slices for a Service with a selector and no
    Endpoints/EndpointSlices of its own, from the Pods in the files
    (endpoint_sets_from_pods; k/k pkg/controller/endpointslice);
  * the Endpoints controller's v1 Endpoints objects, as `kubectl get endpoints` lists
    them (endpoints_objects; k/k pkg/controller/endpoint).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping

from lb.addresses import ip_family
from lb.config.model import EXTERNAL_NAME, Endpoint, EndpointPort, EndpointSet, Pod, Service, ServicePort
from lb.diagnostics import WARNING, Diagnostic

TERMINAL_PHASES = ("Succeeded", "Failed")
SELECTS_NO_POD = "SelectsNoPod"     # Diagnostic.reason of selector_warnings


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
    groups: dict[tuple[str, tuple[EndpointPort, ...]], list[Endpoint]] = {}
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
            ip = next(ip for ip in pod.ips if ip_family(ip) == family)
            addr = Endpoint(ip=ip, ready=ready, serving=pod.ready, terminating=pod.terminating,
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


def _families_of(ips: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(ip_family(ip) for ip in ips))


def _slice_manifest(svc: Service, name: str, family: str, addrs: list[Endpoint],
                    ports: tuple[EndpointPort, ...]) -> dict:
    endpoints = [{"addresses": [a.ip],
                  "conditions": {"ready": a.ready, "serving": a.serving, "terminating": a.terminating},
                  **_identity(a, svc.namespace)} for a in addrs]
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


def selector_warning(svc: Service, has_endpoint_sets: bool, selected: Iterable[Pod]) -> Diagnostic | None:
    """A warning when svc's selector finds no Pod with an IP while no Endpoints/EndpointSlice in
    the files names it: in a cluster a Deployment would make those Pods, but lb runs no
    workloads, so the Service has no backends. Not an error: the Pods may not be written yet.
    selected: the Pods of svc's namespace its selector matches."""
    if not svc.selector or svc.type == EXTERNAL_NAME or has_endpoint_sets:
        return None
    selected = list(selected)
    if any(p.ips for p in selected):
        return None
    found = (f"selects {len(selected)} Pod{'s' if len(selected) > 1 else ''}, none with status.podIP"
             if selected else "selects no Pod")
    shown = ",".join(f"{k}={v}" for k, v in sorted(svc.selector.items()))
    src = svc.source
    return Diagnostic(
        WARNING, src.path if src else "<unknown>", src.line_of("spec.selector") if src else 0,
        f'Service "{svc.key}" {found} (selector {shown}), so it has no backends: lb does not run '
        "workloads (Deployments, StatefulSets and other controllers are skipped); add Pods with "
        "status.podIP, or Endpoints or an EndpointSlice that list the backends",
        field="spec.selector", kind="Service", namespace=svc.namespace, name=svc.name, reason=SELECTS_NO_POD)


# --- what the Endpoints controller would write ------------------------------------

@dataclass(frozen=True)
class EndpointsObject:
    """One v1 Endpoints object as `get ep` lists it: subsets as (ready ips, port numbers)."""
    namespace: str
    name: str
    subsets: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]
    mtime: float = 0.0
    manifest: Mapping | None = None


def endpoints_objects(snap) -> list["EndpointsObject"]:
    """The v1 Endpoints objects a cluster would hold: those in the files, and for each
    Service with a selector and none in the files, what the endpoints controller writes."""
    grouped: dict[tuple[str, str], list] = {}
    for es in snap.endpoint_sets:
        if es.kind == "Endpoints":
            grouped.setdefault((es.namespace, es.name), []).append(es)
    items = []
    for (ns, name), sets in grouped.items():
        subsets = tuple((tuple(a.ip for a in es.addresses if a.ready), tuple(p.port for p in es.ports))
                        for es in sets)
        src = sets[0].source
        mtime = (src.mtime or snap.file_mtimes.get(src.path, 0.0)) if src else 0.0
        items.append(EndpointsObject(ns, name, subsets, mtime, sets[0].manifest))
    for view in snap.services:
        svc = view.service
        if not svc.selector or svc.type == "ExternalName" or (svc.namespace, svc.name) in grouped:
            continue
        subsets, raw = [], []
        for rp in view.ports:
            for port in sorted({ep.port for ep in rp.endpoints}):
                eps = [ep for ep in rp.endpoints if ep.port == port]
                ready = tuple(ep.ip for ep in eps if ep.ready)
                subsets.append((ready, (port,)))
                raw.append(_endpoints_subset(eps, rp.port.name, port, rp.port.protocol))
        src = svc.source
        mtime = (src.mtime or snap.file_mtimes.get(src.path, 0.0)) if src else 0.0
        manifest = {"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": svc.name, "namespace": svc.namespace, "labels": dict(svc.labels)},
                    "subsets": raw}
        items.append(EndpointsObject(svc.namespace, svc.name, tuple(subsets), mtime, manifest))
    return items


def _identity(ep: Endpoint, namespace: str | None = None) -> dict:
    """hostname, nodeName and targetRef of an endpoint, as the API writes them (unset ones left out)."""
    out = {}
    if ep.hostname:
        out["hostname"] = ep.hostname
    if ep.node_name:
        out["nodeName"] = ep.node_name
    if ep.target_ref:
        kind, _, ref = ep.target_ref.partition("/")
        out["targetRef"] = {"kind": kind, "name": ref, **({"namespace": namespace} if namespace else {})}
    return out


def _endpoints_subset(eps, name: str, port: int, protocol: str) -> dict:
    subset = {}
    ready = [{"ip": ep.ip, **_identity(ep)} for ep in eps if ep.ready]
    not_ready = [{"ip": ep.ip, **_identity(ep)} for ep in eps if not ep.ready]
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    port_doc = {"port": port, "protocol": protocol}
    if name:
        port_doc = {"name": name, **port_doc}
    subset["ports"] = [port_doc]
    return subset
