"""The resources `lb get` and `lb describe` know, by every name kubectl accepts for them:
where their objects come from, their table, their `-o name` prefix and describe page."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from lb.kubectl import describe, items, tables
from lb.kubectl.items import Item
from lb.snapshot import Snapshot


@dataclass(frozen=True)
class Resource:
    plural: str                                   # "services": kubectl's NotFound messages use it
    name_prefix: str                              # -o name: "service/web"
    collect: Callable[[Snapshot], list[Item]]
    columns: list[str]
    wide_columns: list[str]
    row: tables.Row
    # (item, snapshot, names): names are ExternalName targets looked up, name -> (addresses, error)
    describe: Callable[[Item, Snapshot, Mapping], str]


def _describe_service(item: Item, snap: Snapshot, names: Mapping) -> str:
    svc = item.obj.service
    with_sets = any(es.namespace == svc.namespace and es.service_name == svc.name for es in snap.endpoint_sets)
    return describe.describe_service(item.obj, with_sets, names)


SERVICES = Resource("services", "service", items.services, tables.SERVICE_COLUMNS,
                    tables.SERVICE_COLUMNS + ["SELECTOR"], tables.service_row, _describe_service)
ENDPOINTS = Resource("endpoints", "endpoints", items.endpoints, tables.ENDPOINTS_COLUMNS, tables.ENDPOINTS_COLUMNS,
                     tables.endpoints_row, lambda item, snap, _names: describe.describe_endpoints(item))
ENDPOINT_SLICES = Resource("endpointslices", "endpointslice.discovery.k8s.io", items.endpoint_slices,
                           tables.ENDPOINTSLICE_COLUMNS, tables.ENDPOINTSLICE_COLUMNS, tables.endpointslice_row,
                           lambda item, snap, _names: describe.describe_endpointslice(item))
PODS = Resource("pods", "pod", items.pods, tables.POD_COLUMNS, tables.POD_COLUMNS + tables.POD_WIDE_COLUMNS,
                tables.pod_row, lambda item, snap, _names: describe.describe_pod(item))

RESOURCES = {
    **dict.fromkeys(("svc", "service", "services"), SERVICES),
    **dict.fromkeys(("ep", "endpoint", "endpoints"), ENDPOINTS),
    **dict.fromkeys(("endpointslice", "endpointslices", "endpointslice.discovery.k8s.io",
                     "endpointslices.discovery.k8s.io"), ENDPOINT_SLICES),
    **dict.fromkeys(("po", "pod", "pods"), PODS),
}


def resource_named(name: str) -> Resource | None:
    return RESOURCES.get(name.lower())
