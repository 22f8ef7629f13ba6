"""`lb validate|get|describe|render`: commands that read manifests and print, no serving.

Each handler takes the argparse namespace from lb.cli and returns the exit code:
0 success, 1 invalid manifests or a missing object, 2 usage errors (bad flags or
paths). Messages mirror kubectl's ("No resources found in study namespace.").
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Mapping

from lb import tables
from lb.config.model import Service
from lb.diagnostics import ERROR, WARNING
from lb.snapshot import Snapshot

RESOURCES = {
    "svc": "services", "service": "services", "services": "services",
    "ep": "endpoints", "endpoint": "endpoints", "endpoints": "endpoints",
    "endpointslice": "endpointslices", "endpointslices": "endpointslices",
    "endpointslice.discovery.k8s.io": "endpointslices",
    "po": "pods", "pod": "pods", "pods": "pods",
}


def _err(text: str) -> None:
    print(text, file=sys.stderr)


class UsageError(Exception):
    """A bad path or flag: one line on stderr, exit 2."""


def command(handler):
    """Wraps a handler so that a UsageError anywhere in it becomes its one line and exit 2."""
    @functools.wraps(handler)
    def run(args) -> int:
        try:
            return handler(args)
        except UsageError as exc:
            _err(str(exc))
            return 2
    return run


def _check_paths(args) -> None:
    for path in args.files:
        if not os.path.exists(path):
            raise UsageError(f'error: the path "{path}" does not exist')


def _load(args, file_results=None) -> Snapshot:
    """The snapshot for args.files; UsageError for a missing path or a bad range flag."""
    _check_paths(args)
    from lb.config.pipeline import build_snapshot
    try:
        return build_snapshot(args.files, args.service_cluster_ip_range, args.service_node_port_range,
                              file_results=file_results)
    except ValueError as exc:
        raise UsageError(f"lb: error: {exc}") from None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@command
def validate(args) -> int:
    from lb.config.loader import load_paths
    _check_paths(args)
    results = load_paths(list(args.files))
    snap = _load(args, file_results=results)
    for diag in snap.diagnostics:
        _err(str(diag))
    if args.verbose:
        for line in snap.skipped:
            print(line)
    objects = {(type(o).__name__, getattr(o, "kind", ""), getattr(o, "namespace", ""), o.name)
               for fr in results for o in fr.objects}
    errors = sum(1 for d in snap.diagnostics if d.severity == ERROR)
    warnings = sum(1 for d in snap.diagnostics if d.severity == WARNING)
    print(f"{', '.join(args.files)}: {_plural(len(objects), 'object')}, "
          f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    return 1 if errors else 0


# --- get ---------------------------------------------------------------------------

def _scope(args) -> str | None:
    """The namespace to list, None for every namespace (-A)."""
    return None if args.all_namespaces else (args.namespace or "default")


def _none_found(namespace: str | None) -> None:
    _err("No resources found" if namespace is None else f"No resources found in {namespace} namespace.")


def _report_errors(snap: Snapshot) -> None:
    # invalid objects are dropped, as the API server would refuse them; say so
    for diag in snap.errors:
        _err(str(diag))


@command
def get(args) -> int:
    resource = RESOURCES.get(args.resource.lower())
    if resource is None:
        _err(f'error: the server doesn\'t have a resource type "{args.resource}"')
        return 2
    snap = _load(args)
    _report_errors(snap)
    namespace = _scope(args)
    now = time.time()
    mtime_of = snap.file_mtimes.get
    wide = args.output == "wide"

    if resource == "services":
        items = [v.service for v in snap.services]
        render = lambda xs: tables.services_table(xs, now, wide, namespace is None, mtime_of)  # noqa: E731
        manifest = _service_manifest
    elif resource == "endpoints":
        items = endpoints_items(snap)
        render = lambda xs: tables.endpoints_table(xs, now, namespace is None)  # noqa: E731
        manifest = lambda it: it.manifest  # noqa: E731
    elif resource == "endpointslices":
        items = _endpoint_slices(snap)
        render = lambda xs: tables.endpointslices_table(xs, now, namespace is None, mtime_of)  # noqa: E731
        manifest = lambda es: es.manifest  # noqa: E731
    else:
        items = list(snap.pods)
        render = lambda xs: tables.pods_table(xs, now, wide, namespace is None, mtime_of)  # noqa: E731
        manifest = lambda p: p.manifest  # noqa: E731

    items = [it for it in items if namespace is None or it.namespace == namespace]
    items.sort(key=lambda it: (it.namespace, it.name))
    if args.name:
        items = [it for it in items if it.name == args.name]
        if not items:
            _err(f'Error from server (NotFound): {resource} "{args.name}" not found')
            return 1
    if not items:
        _none_found(namespace)
        return 0
    if args.output in ("yaml", "json"):
        docs = [_plain(manifest(it)) for it in items]
        doc = docs[0] if args.name else {"apiVersion": "v1", "items": docs, "kind": "List",
                                         "metadata": {"resourceVersion": ""}}
        _print_doc(doc, args.output)
        return 0
    sys.stdout.write(render(items))
    return 0


def _endpoint_slices(snap: Snapshot) -> list:
    seen, out = set(), []
    for es in snap.endpoint_sets:
        if es.kind == "EndpointSlice" and (es.namespace, es.name) not in seen:
            seen.add((es.namespace, es.name))
            out.append(es)
    return out


def endpoints_items(snap: Snapshot) -> list[tables.EndpointsItem]:
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
        items.append(tables.EndpointsItem(ns, name, subsets, mtime, sets[0].manifest))
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
        items.append(tables.EndpointsItem(svc.namespace, svc.name, tuple(subsets), mtime, manifest))
    return items


def _endpoints_subset(eps, name: str, port: int, protocol: str) -> dict:
    def addr(ep):
        out = {"ip": ep.ip}
        if ep.hostname:
            out["hostname"] = ep.hostname
        if ep.node_name:
            out["nodeName"] = ep.node_name
        if ep.target_ref:
            kind, _, ref = ep.target_ref.partition("/")
            out["targetRef"] = {"kind": kind, "name": ref}
        return out
    subset = {}
    ready = [addr(ep) for ep in eps if ep.ready]
    not_ready = [addr(ep) for ep in eps if not ep.ready]
    if ready:
        subset["addresses"] = ready
    if not_ready:
        subset["notReadyAddresses"] = not_ready
    port_doc = {"port": port, "protocol": protocol}
    if name:
        port_doc = {"name": name, **port_doc}
    subset["ports"] = [port_doc]
    return subset


def _service_manifest(svc: Service) -> dict:
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


def _plain(obj):
    """Mappings and tuples as dicts and lists, for yaml.safe_dump and json."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _print_doc(doc, output: str) -> None:
    if output == "json":
        print(json.dumps(doc, indent=4))
        return
    import yaml
    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


# --- describe ----------------------------------------------------------------------

@command
def describe(args) -> int:
    if RESOURCES.get(args.resource.lower()) != "services":
        _err(f'error: lb describes services only, not "{args.resource}"')
        return 2
    snap = _load(args)
    _report_errors(snap)
    namespace = _scope(args)
    views = [v for v in snap.services if namespace is None or v.service.namespace == namespace]
    if args.name:
        views = [v for v in views if v.service.name == args.name]
        if not views:
            _err(f'Error from server (NotFound): services "{args.name}" not found')
            return 1
    if not views:
        _none_found(namespace)
        return 0
    with_sets = {(es.namespace, es.service_name) for es in snap.endpoint_sets}
    texts = [tables.describe_service(v, (v.service.namespace, v.service.name) in with_sets) for v in views]
    # kubectl separates described objects with two empty lines
    sys.stdout.write("\n\n".join(texts))
    return 0


# --- render ------------------------------------------------------------------------

@command
def render(args) -> int:
    snap = _load(args)
    if snap.errors:
        for diag in snap.diagnostics:
            _err(str(diag))
        return 1
    from lb.kernel import IPVS_MISSING, ipvs_available
    from lb.render import render as render_rules
    warnings: list[str] = []
    text = render_rules(snap, args.mode, args.node_ip, warnings=warnings)
    if args.mode == "ipvs" and not ipvs_available():
        warnings.append(f"{IPVS_MISSING}: the rules are ipvsadm-restore input for a machine that has it")
    for note in warnings:
        _err(f"lb render: {note}")
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0
