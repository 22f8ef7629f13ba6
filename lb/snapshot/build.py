"""Loaded files -> Snapshot: drop duplicates, allocate, resolve, collect diagnostics.

build_snapshot never raises for bad manifests (they become diagnostics and the
offending objects are dropped); it raises ValueError only for bad range flags.
Reading the files is lb.config.loader's (offline commands) or lb.sources.files'
(a running instance, which keeps each file's last good content).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from lb.config.allocate import parse_cluster_ip_range, parse_node_port_range, allocate
from lb.config.model import EndpointSet, Namespace, Pod, Service, Source
from lb.diagnostics import ERROR, Diagnostic, duplicate
from lb.settings import ManifestSettings
from lb.snapshot import Snapshot
from lb.snapshot.controllers import selector_warnings
from lb.snapshot.resolve import resolve

__all__ = ["build_snapshot"]


def build_snapshot(file_results: Iterable, settings: ManifestSettings = ManifestSettings(),
                   generation: int = 1) -> Snapshot:
    """A Snapshot of loaded files (lb.config.loader.FileResult), allocated from the
    settings' ranges. Raises ValueError (a one-line message) only for a bad range."""
    nets = parse_cluster_ip_range(settings.service_cluster_ip_range)
    node_ports = parse_node_port_range(settings.service_node_port_range)
    file_results = list(file_results)

    diagnostics: list[Diagnostic] = []
    skipped: list[str] = []
    services: list[Service] = []
    endpoint_sets: list[EndpointSet] = []
    pods: list[Pod] = []
    namespaces: list[Namespace] = []
    mtimes = {}
    for fr in file_results:
        mtimes[fr.path] = fr.mtime
        diagnostics.extend(fr.diagnostics)
        skipped.extend(fr.skipped)
        for obj in fr.objects:
            if isinstance(obj, Service):
                services.append(obj)
            elif isinstance(obj, EndpointSet):
                endpoint_sets.append(obj)
            elif isinstance(obj, Pod):
                pods.append(obj)
            elif isinstance(obj, Namespace):
                namespaces.append(obj)

    services = _drop_duplicates(services, "Service", diagnostics)
    pods = _drop_duplicates(pods, "Pod", diagnostics)
    namespaces = _drop_duplicates(namespaces, "Namespace", diagnostics)

    allocated = allocate(services, nets, node_ports)
    diagnostics.extend(allocated.diagnostics)
    diagnostics.extend(selector_warnings(allocated.services, endpoint_sets, pods))
    views, generated = resolve(allocated.services, endpoint_sets, pods)

    return Snapshot(
        generation=generation,
        services=views,
        endpoint_sets=tuple(sorted(endpoint_sets + list(generated),
                                   key=lambda es: (es.namespace, es.name, es.kind))),
        pods=tuple(sorted(pods, key=lambda p: (p.namespace, p.name))),
        namespaces=tuple(sorted(namespaces, key=lambda n: n.name)),
        diagnostics=tuple(sorted(diagnostics, key=_diagnostic_order)),
        skipped=tuple(skipped),
        files=tuple(fr.path for fr in file_results),
        file_mtimes=mtimes,
    )


def _diagnostic_order(d: Diagnostic):
    return (d.path, d.line, d.column or 0)


def _drop_duplicates(objs: list, kind: str, diagnostics: list[Diagnostic]) -> list:
    """The first definition in file order wins. An identical copy is merged silently
    (as `kubectl apply` of the same object twice); a different one is an error."""
    seen: dict[tuple[str, str], object] = {}
    out = []
    for obj in sorted(objs, key=_file_order):
        key = (getattr(obj, "namespace", ""), obj.name)
        if key in seen:
            first_obj = seen[key]
            if _same_definition(first_obj, obj):
                continue
            first = first_obj.source
            src = obj.source or Source("<unknown>", 0)
            where = f"{first.path}:{first.line_of('metadata.name')}" if first else "another document"
            diagnostics.append(Diagnostic(
                ERROR, src.path, src.line_of("metadata.name"),
                f"{duplicate(obj.name)}: already defined at {where}", field="metadata.name",
                kind=kind, namespace=key[0] or None, name=obj.name))
            continue
        seen[key] = obj
        out.append(obj)
    return out


def _same_definition(a, b) -> bool:
    if getattr(a, "manifest", None) is not None and getattr(b, "manifest", None) is not None:
        return a.manifest == b.manifest
    return replace(a, source=None) == replace(b, source=None)


def _file_order(obj):
    src = obj.source
    return (src.path, src.document, src.line) if src else ("", 0, 0)
