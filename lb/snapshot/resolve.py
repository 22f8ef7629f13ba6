"""Endpoint resolution: which backends each Service port has, as kube-proxy sees them.

Sources, per Service (joined by namespace + service name):
  * EndpointSets from the files (Endpoints subsets and EndpointSlices), merged;
  * otherwise, for a Service with a selector, the EndpointSlices the endpoint
    controller would write from the Pods in the files (lb.snapshot.controllers).

Matching (k/k pkg/proxy/endpointslicecache.go): an endpoint port feeds the Service
port with the same name and protocol ("" for an unnamed single port); the Service's
targetPort plays no part here, the controller already resolved it. Endpoints are
de-duplicated by ip:port (the most ready copy wins) and sorted by (address, port).

Readiness (k/k pkg/proxy/topology.go CategorizeEndpoints): usable = ready endpoints,
else the serving+terminating ones. publishNotReadyAddresses makes every endpoint ready.
"""
from __future__ import annotations

from typing import Iterable

from lb.addresses import ip_sort_key
from lb.config.model import EXTERNAL_NAME, Endpoint, EndpointSet, Pod, Service
from lb.snapshot import ResolvedPort, ServiceView
from lb.snapshot.controllers import endpoint_sets_from_pods


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
        merged: dict[tuple[str, int], Endpoint] = {}
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


def usable_endpoints(endpoints: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
    """kube-proxy's choice: ready ones; if none, serving and terminating ones."""
    ready = tuple(ep for ep in endpoints if ep.ready)
    if ready:
        return ready
    return tuple(ep for ep in endpoints if ep.serving and ep.terminating)


def endpoint_sort_key(ep: Endpoint):
    return (*ip_sort_key(ep.ip), ep.port)


def _rank(ep: Endpoint) -> tuple[bool, bool, bool]:
    return (ep.ready, ep.serving, not ep.terminating)


def _resolved(addr: Endpoint, port: int, publish_not_ready: bool) -> Endpoint:
    # the constructor, not dataclasses.replace: this runs per endpoint per port on every load
    return Endpoint(addr.ip, port, addr.ready or publish_not_ready, addr.serving, addr.terminating,
                    addr.hostname, addr.node_name, addr.zone, addr.target_ref)


__all__ = ["resolve", "resolve_service", "usable_endpoints", "endpoint_sort_key"]
