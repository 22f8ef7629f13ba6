"""`lb validate|get|describe|render`: commands that read manifests and print, no serving.

Each handler takes the ManifestSettings and options lb.cli parsed, and returns the
exit code: 0 success, 1 invalid manifests or a missing object, 2 usage errors (bad
flags or paths). Messages mirror kubectl's ("No resources found in study namespace.").
"""
from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lb import kubectl
from lb.config.model import Service
from lb.config.loader import STDIN, STDIN_NAME, check_paths, load_paths
from lb.diagnostics import ERROR, WARNING
from lb.settings import ManifestSettings
from lb.snapshot import Snapshot
from lb.snapshot.build import build_snapshot
from lb.snapshot.controllers import SELECTS_NO_POD, endpoints_objects

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
    def run(*args, **kwargs) -> int:
        try:
            return handler(*args, **kwargs)
        except UsageError as exc:
            _err(str(exc))
            return 2
    return run


@dataclass(frozen=True)
class Query:
    """What `get` and `describe` were asked for."""
    resource: str
    name: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    output: str | None = None        # wide, yaml, json


def _check_paths(settings: ManifestSettings) -> None:
    try:
        check_paths(settings.files)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _load(settings: ManifestSettings, file_results=None) -> Snapshot:
    """The snapshot of the settings' files; UsageError for a missing path or a bad range flag."""
    _check_paths(settings)
    if file_results is None:
        file_results = load_paths(settings.files)
    try:
        return build_snapshot(file_results, settings)
    except ValueError as exc:
        raise UsageError(f"lb: error: {exc}") from None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@command
def validate(settings: ManifestSettings, verbose: bool = False) -> int:
    _check_paths(settings)
    results = load_paths(settings.files)
    snap = _load(settings, file_results=results)
    for diag in snap.diagnostics:
        _err(str(diag))
    if verbose:
        for line in snap.skipped:
            print(line)
    objects = {(type(o).__name__, getattr(o, "kind", ""), getattr(o, "namespace", ""), o.name)
               for fr in results for o in fr.objects}
    errors = sum(1 for d in snap.diagnostics if d.severity == ERROR)
    warnings = sum(1 for d in snap.diagnostics if d.severity == WARNING)
    shown = dict.fromkeys(STDIN_NAME if path == STDIN else path for path in settings.files)
    print(f"{', '.join(shown)}: {_plural(len(objects), 'object')}, "
          f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    return 1 if errors else 0


# --- get ---------------------------------------------------------------------------

def _scope(query: Query) -> str | None:
    """The namespace to list, None for every namespace (-A)."""
    return None if query.all_namespaces else (query.namespace or "default")


def _none_found(namespace: str | None) -> None:
    _err("No resources found" if namespace is None else f"No resources found in {namespace} namespace.")


def _report_errors(snap: Snapshot) -> None:
    # invalid objects are dropped, as the API server would refuse them; say so
    for diag in snap.errors:
        _err(str(diag))


def _report_selectors_without_pods(snap: Snapshot, shown: set[tuple[str, str]]) -> None:
    """The warning that a shown Service's selector finds no Pod (lb runs no Deployments)."""
    for diag in snap.diagnostics:
        if diag.reason == SELECTS_NO_POD and (diag.namespace, diag.name) in shown:
            _err(str(diag))


@command
def get(settings: ManifestSettings, query: Query) -> int:
    resource = RESOURCES.get(query.resource.lower())
    if resource is None:
        _err(f'error: the server doesn\'t have a resource type "{query.resource}"')
        return 2
    snap = _load(settings)
    _report_errors(snap)
    namespace = _scope(query)
    now = time.time()
    mtime_of = snap.file_mtimes.get
    wide = query.output == "wide"

    if resource == "services":
        items = [v.service for v in snap.services]
        render = lambda xs: kubectl.services_table(xs, now, wide, namespace is None, mtime_of)  # noqa: E731
        manifest = _service_manifest
    elif resource == "endpoints":
        items = endpoints_objects(snap)
        render = lambda xs: kubectl.endpoints_table(xs, now, namespace is None)  # noqa: E731
        manifest = lambda it: it.manifest  # noqa: E731
    elif resource == "endpointslices":
        items = _endpoint_slices(snap)
        render = lambda xs: kubectl.endpointslices_table(xs, now, namespace is None, mtime_of)  # noqa: E731
        manifest = lambda es: es.manifest  # noqa: E731
    else:
        items = list(snap.pods)
        render = lambda xs: kubectl.pods_table(xs, now, wide, namespace is None, mtime_of)  # noqa: E731
        manifest = lambda p: p.manifest  # noqa: E731

    items = [it for it in items if namespace is None or it.namespace == namespace]
    items.sort(key=lambda it: (it.namespace, it.name))
    if query.name:
        items = [it for it in items if it.name == query.name]
        if not items:
            _err(f'Error from server (NotFound): {resource} "{query.name}" not found')
            return 1
    if not items:
        _none_found(namespace)
        return 0
    if resource in ("services", "endpoints"):
        _report_selectors_without_pods(snap, {(it.namespace, it.name) for it in items})
    if query.output in ("yaml", "json"):
        docs = [_plain(manifest(it)) for it in items]
        doc = docs[0] if query.name else {"apiVersion": "v1", "items": docs, "kind": "List",
                                         "metadata": {"resourceVersion": ""}}
        _print_doc(doc, query.output)
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
def describe(settings: ManifestSettings, query: Query) -> int:
    if RESOURCES.get(query.resource.lower()) != "services":
        _err(f'error: lb describes services only, not "{query.resource}"')
        return 2
    snap = _load(settings)
    _report_errors(snap)
    namespace = _scope(query)
    views = [v for v in snap.services if namespace is None or v.service.namespace == namespace]
    if query.name:
        views = [v for v in views if v.service.name == query.name]
        if not views:
            _err(f'Error from server (NotFound): services "{query.name}" not found')
            return 1
    if not views:
        _none_found(namespace)
        return 0
    _report_selectors_without_pods(snap, {(v.service.namespace, v.service.name) for v in views})
    with_sets = {(es.namespace, es.service_name) for es in snap.endpoint_sets}
    texts = [kubectl.describe_service(v, (v.service.namespace, v.service.name) in with_sets) for v in views]
    # kubectl separates described objects with two empty lines
    sys.stdout.write("\n\n".join(texts))
    return 0


# --- render ------------------------------------------------------------------------

@command
def render(settings: ManifestSettings, mode: str, node_ips: tuple[str, ...] = ()) -> int:
    snap = _load(settings)
    if snap.errors:
        for diag in snap.diagnostics:
            _err(str(diag))
        return 1
    from lb.kernel import IPVS_MISSING, ipvs_available
    from lb.render import render as render_rules
    warnings: list[str] = []
    text = render_rules(snap, mode, node_ips, warnings=warnings)
    if mode == "ipvs" and not ipvs_available():
        warnings.append(f"{IPVS_MISSING}: the rules are ipvsadm-restore input for a machine that has it")
    for note in warnings:
        _err(f"lb render: {note}")
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0
