"""Turning one type-checked manifest dict into model objects: default, validate, build.

build_objects() accepts a dict of a kind lb reads (Service, Endpoints,
EndpointSlice, Pod, Namespace) whose field types the loader already checked. It
applies the API server's defaulting (k/k pkg/apis/core/v1/defaults.go,
SetDefaults_Service and friends, plus the create strategy's clusterIPs sync and
the registry's ipFamilies initialisation), validates with lb/config/validate.py,
and returns model objects only when the object is valid; otherwise none, and
every error found. Warnings are for what kube-proxy would silently ignore.
Defaulting works on a copy: the input dict is never changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from lb.config import validate as v
from lb.config.annotations import ENDPOINT_SLICE, ENDPOINTS, POD, SERVICE, parse_annotations
from lb.diagnostics import invalid
from lb.addresses import ip_family
from lb.config.model import (AFFINITY_CLIENT_IP, DEFAULT_AFFINITY_TIMEOUT, ContainerPort, Endpoint, EndpointPort,
                             EndpointSet, ManifestObject, Namespace, Pod, Service, ServicePort, Source)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass
class BuildResult:
    objects: list[ManifestObject] = field(default_factory=list)
    errors: list[v.FieldError] = field(default_factory=list)
    warnings: list[v.FieldError] = field(default_factory=list)


def build_objects(kind: str, obj: dict, source: Source, owned: bool = False,
                  keep_manifest: bool = True) -> BuildResult:
    """owned: obj is the caller's to give away (the loader's fresh data); defaulting then
    works on it in place instead of on a copy. keep_manifest: objects carry the defaulted
    manifest (kubectl -o yaml), else None."""
    builder = {"Service": _service, "Endpoints": _endpoints, "EndpointSlice": _endpoint_slice,
               "Pod": _pod, "Namespace": _namespace}[kind]
    return builder(obj, source, owned, keep_manifest)


def _service(obj: dict, source: Source, owned: bool, keep: bool = True) -> BuildResult:
    svc = default_service(obj, owned)
    errors = v.validate_service(svc) or default_ip_families(svc)
    options, option_errors = parse_annotations(SERVICE, svc["metadata"].get("annotations"))
    if errors or option_errors:
        return BuildResult(errors=errors + option_errors)
    meta, spec = svc["metadata"], svc["spec"]
    ports = tuple(ServicePort(name=p.get("name") or "", protocol=p["protocol"], port=p["port"],
                              target_port=p["targetPort"], node_port=p.get("nodePort") or None,
                              app_protocol=p.get("appProtocol"))
                  for p in spec.get("ports") or [])
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    client_ip = spec["sessionAffinity"] == AFFINITY_CLIENT_IP
    external_name = spec["type"] == "ExternalName"
    return BuildResult(objects=[Service(
        namespace=meta["namespace"], name=meta["name"], type=spec["type"], ports=ports,
        # An empty selector selects nothing, as no selector at all (the API stores both as nil).
        selector=dict(spec["selector"]) if spec.get("selector") else None,
        cluster_ip="" if external_name else spec.get("clusterIP") or "",
        cluster_ips=() if external_name else tuple(spec.get("clusterIPs") or ()),
        ip_families=_families(spec.get("ipFamilies")),
        ip_family_policy=spec.get("ipFamilyPolicy"),
        external_ips=tuple(spec.get("externalIPs") or ()),
        external_name=spec.get("externalName") if external_name else None,
        load_balancer_ip=spec.get("loadBalancerIP") or None,
        load_balancer_ingress=tuple(i["ip"] for i in ingress if i.get("ip")),
        load_balancer_source_ranges=tuple(r.strip() for r in spec.get("loadBalancerSourceRanges") or ()),
        session_affinity=spec["sessionAffinity"],
        affinity_timeout=spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] if client_ip else 0,
        publish_not_ready_addresses=bool(spec.get("publishNotReadyAddresses")),
        allocate_load_balancer_node_ports=spec.get("allocateLoadBalancerNodePorts") is not False,
        external_traffic_policy=spec.get("externalTrafficPolicy"),
        internal_traffic_policy=spec.get("internalTrafficPolicy"),
        labels=_mapping(meta.get("labels")), annotations=_mapping(meta.get("annotations")), options=options,
        source=source, manifest=svc if keep else None)])


_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_FAMILIES = {(): (), ("IPv4",): ("IPv4",), ("IPv6",): ("IPv6",), ("IPv4", "IPv6"): ("IPv4", "IPv6"),
             ("IPv6", "IPv4"): ("IPv6", "IPv4")}


def _mapping(value: dict | None) -> Mapping[str, str]:
    """A copy of labels or annotations; the empty ones (most) share one read-only mapping."""
    return dict(value) if value else _NO_LABELS


def _families(value) -> tuple[str, ...]:
    """ipFamilies as a tuple, one shared tuple per combination (10,000 Services, 5 values)."""
    key = tuple(value or ())
    return _FAMILIES.get(key, key)


def _target_ref(ref: dict | None) -> str | None:
    if ref and ref.get("kind") and ref.get("name"):
        return f"{ref['kind']}/{ref['name']}"
    return None


def _endpoints(obj: dict, source: Source, owned: bool, keep: bool = True) -> BuildResult:
    """One EndpointSet per subset and address family, as the mirroring controller
    splits them into slices; notReadyAddresses become ready=False, serving=False."""
    eps = default_endpoints(obj, owned)
    errors = v.validate_endpoints(eps)
    options, option_errors = parse_annotations(ENDPOINTS, eps["metadata"].get("annotations"))
    if errors or option_errors:
        return BuildResult(errors=errors + option_errors)
    meta, out = eps["metadata"], []
    for subset in eps.get("subsets") or []:
        ports = tuple(EndpointPort(p.get("name") or "", p["port"], p["protocol"], p.get("appProtocol"))
                      for p in subset.get("ports") or [])
        by_family: dict[str, list[Endpoint]] = {}
        for group, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in subset.get(group) or []:
                by_family.setdefault(ip_family(a["ip"]), []).append(Endpoint(
                    ip=a["ip"], ready=ready, serving=ready, terminating=False, hostname=a.get("hostname"),
                    node_name=a.get("nodeName"), target_ref=_target_ref(a.get("targetRef"))))
        for family in sorted(by_family):
            out.append(EndpointSet(namespace=meta["namespace"], service_name=meta["name"], kind="Endpoints",
                                   name=meta["name"], address_type=family, addresses=tuple(by_family[family]),
                                   ports=ports, options=options, source=source, manifest=eps if keep else None))
    return BuildResult(objects=out)


def _endpoint_slice(obj: dict, source: Source, owned: bool, keep: bool = True) -> BuildResult:
    """One EndpointSet. Conditions as kube-proxy reads them: ready nil => true,
    serving nil => ready, terminating nil => false; only the first address of an
    endpoint is used; FQDN slices and slices without a Service label are ignored."""
    es = default_endpoint_slice(obj, owned)
    errors = v.validate_endpoint_slice(es)
    options, option_errors = parse_annotations(ENDPOINT_SLICE, es["metadata"].get("annotations"))
    if errors or option_errors:
        return BuildResult(errors=errors + option_errors)
    meta, result = es["metadata"], BuildResult()
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if es["addressType"] == "FQDN":
        result.warnings.append(("addressType", "FQDN EndpointSlices are ignored, as kube-proxy ignores them"))
        return result
    if not service:
        result.warnings.append(("metadata.labels", f'no label "{SERVICE_NAME_LABEL}": the EndpointSlice '
                                                   "belongs to no Service and is ignored, as kube-proxy does"))
        return result
    addresses = []
    for i, ep in enumerate(es.get("endpoints") or []):
        if len(ep["addresses"]) > 1:
            result.warnings.append((f"endpoints[{i}].addresses",
                                    f"only the first of {len(ep['addresses'])} addresses is used, as kube-proxy does"))
        cond = ep.get("conditions") or {}
        ready = cond.get("ready") is not False
        topology = ep.get("topology") or ep.get("deprecatedTopology") or {}
        addresses.append(Endpoint(
            ip=ep["addresses"][0], ready=ready,
            serving=ready if cond.get("serving") is None else cond["serving"],
            terminating=bool(cond.get("terminating")), hostname=ep.get("hostname"),
            node_name=ep.get("nodeName") or topology.get("kubernetes.io/hostname"),
            zone=ep.get("zone") or topology.get("topology.kubernetes.io/zone"),
            target_ref=_target_ref(ep.get("targetRef"))))
    # A port without a number carries no traffic; kube-proxy skips it.
    ports = tuple(EndpointPort(p["name"], p["port"], p["protocol"], p.get("appProtocol"))
                  for p in es.get("ports") or [] if p.get("port") is not None)
    result.objects.append(EndpointSet(namespace=meta["namespace"], service_name=service, kind="EndpointSlice",
                                      name=meta["name"], address_type=es["addressType"],
                                      addresses=tuple(addresses), ports=ports, options=options, source=source,
                                      manifest=es if keep else None))
    return result


def _pod(obj: dict, source: Source, owned: bool, keep: bool = True) -> BuildResult:
    pod = default_pod(obj, owned)
    errors = v.validate_pod(pod)
    errors += parse_annotations(POD, pod["metadata"].get("annotations"))[1]
    if errors:
        return BuildResult(errors=errors)
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    ips = tuple(p["ip"] for p in status.get("podIPs") or [] if p.get("ip"))
    if not ips and status.get("podIP"):
        ips = (status["podIP"],)
    conditions = status.get("conditions") or []
    ready_values = [c.get("status") for c in conditions if c.get("type") == "Ready"]
    if conditions:
        ready = ready_values[-1:] == ["True"]
    else:
        # Hand-written dev manifests often give only phase and podIP; with no
        # conditions to go by, a Running pod counts as Ready.
        ready = status.get("phase") == "Running"
    ports = tuple(ContainerPort(p.get("name") or None, p["containerPort"], p["protocol"])
                  for c in spec.get("containers") or [] for p in c.get("ports") or [])
    return BuildResult(objects=[Pod(
        namespace=meta["namespace"], name=meta["name"], labels=dict(meta.get("labels") or {}), ips=ips,
        ready=ready, terminating=bool(meta.get("deletionTimestamp")), phase=status.get("phase"),
        node_name=spec.get("nodeName"), hostname=spec.get("hostname"), subdomain=spec.get("subdomain"),
        container_ports=ports, source=source, manifest=pod if keep else None)])


def _namespace(obj: dict, source: Source, owned: bool, keep: bool = True) -> BuildResult:
    errors = v.validate_namespace(obj)
    if errors:
        return BuildResult(errors=errors)
    meta = obj["metadata"]
    return BuildResult(objects=[Namespace(meta["name"], dict(meta.get("labels") or {}), source)])


# ---- defaulting ----

def _copy(value):
    """A copy of plain YAML data (dicts, lists, scalars); copy.deepcopy is several times slower."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def with_namespace(obj: dict, owned: bool = False) -> dict:
    """obj (a copy unless owned) with metadata.namespace defaulted to "default", as kubectl does."""
    out = obj if owned else _copy(obj)
    meta = out.setdefault("metadata", {}) or {}
    out["metadata"] = meta
    if not meta.get("namespace"):
        meta["namespace"] = "default"
    return out


def default_service(obj: dict, owned: bool = False) -> dict:
    """SetDefaults_Service plus the create strategy's clusterIP/clusterIPs sync."""
    out = with_namespace(obj, owned)
    spec = out.get("spec") or {}
    out["spec"] = spec
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_AFFINITY_TIMEOUT}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in spec.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port") or 0
    if v.externally_accessible(spec) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is None:
            spec["allocateLoadBalancerNodePorts"] = True
        for ing in ((out.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if ing.get("ip") and not ing.get("ipMode"):
                ing["ipMode"] = "VIP"
    # NormalizeClusterIPs on create: the singular field initialises the plural one.
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    return out


def default_ip_families(obj: dict) -> list[v.FieldError]:
    """The registry's ipFamilies/ipFamilyPolicy initialisation, on a valid Service.

    lb serves both families, so a dual-stack policy gets both families (the
    allocator fills in the missing clusterIP). Headless and unset clusterIPs
    default to IPv4, as on a single-stack IPv4 cluster."""
    spec = obj["spec"]
    if spec["type"] == "ExternalName":
        return []
    ips = [ip for ip in spec.get("clusterIPs") or [] if ip != "None"]
    families = list(spec.get("ipFamilies") or [])
    policy = spec.get("ipFamilyPolicy")
    if policy == "SingleStack" and len(ips) > 1:
        return [("spec.ipFamilyPolicy",
                 invalid(policy, "must be RequireDualStack or PreferDualStack when multiple 'clusterIPs' are specified"))]
    if policy == "SingleStack" and len(families) > 1:
        return [("spec.ipFamilyPolicy",
                 invalid(policy, "must be RequireDualStack or PreferDualStack when multiple IP families are specified"))]
    if policy is None:
        policy = "RequireDualStack" if len(ips) > 1 or len(families) > 1 else "SingleStack"
    for i, ip in enumerate(ips):
        if i >= len(families):
            families.append(ip_family(ip))
    if not families:
        families = ["IPv4"]
    if policy != "SingleStack" and len(families) == 1:
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    spec["ipFamilies"], spec["ipFamilyPolicy"] = families, policy
    return []


def default_endpoints(obj: dict, owned: bool = False) -> dict:
    out = with_namespace(obj, owned)
    for subset in out.get("subsets") or []:
        for port in subset.get("ports") or []:
            if not port.get("protocol"):
                port["protocol"] = "TCP"
    return out


def default_endpoint_slice(obj: dict, owned: bool = False) -> dict:
    out = with_namespace(obj, owned)
    for port in out.get("ports") or []:
        if port.get("name") is None:
            port["name"] = ""
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    return out


def default_pod(obj: dict, owned: bool = False) -> dict:
    out = with_namespace(obj, owned)
    for container in (out.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if not port.get("protocol"):
                port["protocol"] = "TCP"
    return out
