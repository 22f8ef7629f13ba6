"""The objects `lb get` and `lb describe` list, in one shape: namespace, name, labels,
creation time and the manifest kubectl would get from the API server, around the model
object the tables and describe pages read.

What a cluster's controllers would have written (Endpoints and EndpointSlices for a
selector's Pods) is listed too, as kubectl would find it (lb.snapshot.controllers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from lb.config.model import Service
from lb.kubectl.cells import created
from lb.snapshot import Snapshot
from lb.snapshot.controllers import endpoints_objects


@dataclass(frozen=True)
class Item:
    namespace: str
    name: str
    labels: Mapping[str, str]
    created: float            # metadata.creationTimestamp, else the file's mtime (Unix time)
    manifest: Mapping
    obj: object               # ServiceView, EndpointsObject, EndpointSet (a slice) or Pod


def _labels(manifest: Mapping) -> Mapping[str, str]:
    return (manifest.get("metadata") or {}).get("labels") or {}


def _mtime(obj, snap: Snapshot) -> float:
    src = getattr(obj, "source", None)
    if src is None:
        return 0.0
    return src.mtime or snap.file_mtimes.get(src.path, 0.0)


def services(snap: Snapshot) -> list[Item]:
    out = []
    for view in snap.services:
        svc = view.service
        manifest = service_manifest(svc)
        out.append(Item(svc.namespace, svc.name, svc.labels, created(manifest, _mtime(svc, snap)), manifest, view))
    return out


def endpoints(snap: Snapshot) -> list[Item]:
    return [Item(ep.namespace, ep.name, _labels(ep.manifest or {}), created(ep.manifest, ep.mtime),
                 ep.manifest or {}, ep) for ep in endpoints_objects(snap)]


def endpoint_slices(snap: Snapshot) -> list[Item]:
    seen, out = set(), []
    for es in snap.endpoint_sets:
        if es.kind == "EndpointSlice" and (es.namespace, es.name) not in seen:
            seen.add((es.namespace, es.name))
            manifest = es.manifest or {}
            out.append(Item(es.namespace, es.name, _labels(manifest), created(manifest, _mtime(es, snap)),
                            manifest, es))
    return out


def pods(snap: Snapshot) -> list[Item]:
    return [Item(p.namespace, p.name, p.labels, created(p.manifest, _mtime(p, snap)), p.manifest or {}, p)
            for p in snap.pods]


def service_manifest(svc: Service) -> Mapping:
    """The defaulted, allocated object; built from the model when there is none."""
    if svc.manifest:
        return svc.manifest
    spec = {"type": svc.type, "clusterIP": svc.cluster_ip, "clusterIPs": list(svc.cluster_ips),
            "ports": [{k: v for k, v in (("name", sp.name), ("port", sp.port), ("protocol", sp.protocol),
                                         ("targetPort", sp.target_port), ("nodePort", sp.node_port)) if v}
                      for sp in svc.ports],
            "sessionAffinity": svc.session_affinity}
    if svc.selector:
        spec["selector"] = dict(svc.selector)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc.name, "namespace": svc.namespace}, "spec": spec}


__all__ = ["Item", "services", "endpoints", "endpoint_slices", "pods", "service_manifest"]
