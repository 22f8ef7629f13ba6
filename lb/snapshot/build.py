"""Loaded files -> Snapshot: drop duplicates, allocate, resolve, collect diagnostics.

A SnapshotBuilder remembers what the last Snapshot was made of. Given the files again it
works from what changed: objects are compared by identity (lb.config.loader hands back the
same objects for documents whose text did not change), a Service is resolved again only when
it, its Endpoints/EndpointSlices or the Pods its selector can match changed, and every other
ServiceView is the previous one, so the planner downstream sees by identity what to redo.
Allocation runs over all Services when any Service changed (it is deterministic over the
whole set: the same files give the same clusterIPs and nodePorts however they were reached),
but hands back the previous object for a Service whose allocation did not move.

Nothing here raises for bad manifests (they become diagnostics and the offending objects are
dropped); a ValueError means a bad range in the settings. Reading the files is
lb.config.loader's (offline commands) or lb.sources.files' (a running instance).
"""
from __future__ import annotations

import bisect
from types import MappingProxyType
from collections import defaultdict
from dataclasses import replace
from typing import Iterable

from lb.config.allocate import allocate, parse_cluster_ip_range, parse_node_port_range
from lb.config.model import EndpointSet, Namespace, Pod, Service, Source
from lb.diagnostics import ERROR, Diagnostic, duplicate
from lb.settings import ManifestSettings
from lb.snapshot import Changes, ServiceView, Snapshot
from lb.snapshot.controllers import endpoint_sets_from_pods, selector_warning, selects
from lb.snapshot.resolve import resolve_service

__all__ = ["SnapshotBuilder", "build_snapshot"]

Key = tuple[str, str]     # (namespace, name); a Service's sort order


def build_snapshot(file_results: Iterable, settings: ManifestSettings = ManifestSettings(),
                   generation: int = 1) -> Snapshot:
    """A Snapshot of loaded files (lb.config.loader.FileResult) from scratch."""
    return SnapshotBuilder(settings).build(file_results, generation)


class _Definitions:
    """Every definition of one kind by key; the first in file order wins (as `kubectl apply`
    of the files in order would leave it). An identical later copy is merged silently; a
    different one is an error pointing at the first."""

    def __init__(self, kind: str):
        self.kind = kind
        self.by_key: dict[Key, list] = defaultdict(list)
        self.winners: dict[Key, object] = {}
        self.diagnostics: dict[Key, list[tuple[Diagnostic, object]]] = {}   # (finding, the object it is about)

    def add(self, obj) -> Key:
        key = (getattr(obj, "namespace", ""), obj.name)
        bisect.insort(self.by_key[key], obj, key=_file_order)
        return key

    def remove(self, obj) -> Key:
        key = (getattr(obj, "namespace", ""), obj.name)
        definitions = self.by_key[key]
        definitions[:] = [o for o in definitions if o is not obj]
        if not definitions:
            del self.by_key[key]
        return key

    def settle(self, keys: Iterable[Key]) -> None:
        for key in keys:
            definitions = self.by_key.get(key)
            self.diagnostics.pop(key, None)
            if not definitions:
                self.winners.pop(key, None)
                continue
            first = definitions[0]
            self.winners[key] = first
            clashes = [(self._clash(first, o, key), o) for o in definitions[1:] if not _same_definition(first, o)]
            if clashes:
                self.diagnostics[key] = clashes

    def _clash(self, first, obj, key: Key) -> Diagnostic:
        src = obj.source or Source.at("<unknown>", 0)
        where = f"{first.source.path}:{first.source.line_of('metadata.name')}" if first.source else "another document"
        return Diagnostic(ERROR, src.path, src.line_of("metadata.name"),
                          f"{duplicate(obj.name)}: already defined at {where}", field="metadata.name",
                          kind=self.kind, namespace=key[0] or None, name=obj.name)


class _SortedSets:
    """EndpointSets in (namespace, name, kind) order, kept sorted as they come and go."""

    def __init__(self):
        self._keys: list[tuple] = []
        self._sets: list[EndpointSet] = []
        self._key_of: dict[int, tuple] = {}      # as added: a document that moves keeps its place

    def add(self, es: EndpointSet) -> None:
        key = self._key_of[id(es)] = (es.namespace, es.name, es.kind, es.address_type, _file_order(es))
        at = bisect.bisect_right(self._keys, key)
        self._keys.insert(at, key)
        self._sets.insert(at, es)

    def remove(self, es: EndpointSet) -> None:
        at = bisect.bisect_left(self._keys, self._key_of.pop(id(es)))
        while self._sets[at] is not es:          # equal keys: the very object
            at += 1
        del self._keys[at]
        del self._sets[at]

    def snapshot(self) -> tuple[EndpointSet, ...]:
        return tuple(self._sets)


class SnapshotBuilder:
    def __init__(self, settings: ManifestSettings = ManifestSettings()):
        self.nets = parse_cluster_ip_range(settings.service_cluster_ip_range)
        self.node_ports = parse_node_port_range(settings.service_node_port_range)
        self._files: dict[str, object] = {}                   # path -> FileResult of the last build
        self._services = _Definitions("Service")
        self._pods = _Definitions("Pod")
        self._namespaces = _Definitions("Namespace")
        self._sets: dict[Key, list[EndpointSet]] = defaultdict(list)   # (namespace, service name)
        self._pods_by_ns: dict[str, dict[str, Pod]] = {}
        self._pod_labels: dict[str, dict[tuple[str, str], set[str]]] = {}
        self._allocated: dict[Key, tuple[Service, Service]] = {}       # key -> (input, allocated)
        self._allocation_diagnostics: list[Diagnostic] = []
        self._selector_warnings: dict[Key, Diagnostic] = {}
        self._views: dict[Key, ServiceView] = {}
        self._generated: dict[Key, tuple[EndpointSet, ...]] = {}
        self._order: list[Key] = []                          # Service keys, sorted
        self._ordered_views: list[ServiceView] = []          # their views, in the same order
        self._sorted_sets = _SortedSets()
        self._last: Snapshot | None = None

    def build(self, file_results: Iterable, generation: int) -> Snapshot:
        results = {fr.path: fr for fr in file_results}
        if self._last is not None and _same_files(self._files, results):
            return self._last                   # nothing changed: the same Snapshot, as identity tells
        changed: dict[str, set] = {"services": set(), "endpoints": set(), "pods": set(), "namespaces": set()}
        for path in [p for p in self._files if p not in results]:
            self._take(self._files.pop(path).objects, (), changed)
        for path, fr in results.items():
            old = self._files.get(path)
            if old is not fr:
                self._take(old.objects if old is not None else (), fr.objects, changed)
                self._files[path] = fr
        self._services.settle(changed["services"])
        self._pods.settle(changed["pods"])
        self._namespaces.settle(changed["namespaces"])
        self._index_pods(changed["pods"])
        dirty = self._allocate() if changed["services"] else set()
        dirty |= changed["endpoints"]
        dirty |= self._selected_by(changed.get("pod_labels", ()))
        for key in dirty:
            self._resolve(key)
        self._last = self._assemble(results, generation, changed, dirty)
        return self._last

    # -- objects in and out --------------------------------------------------------------
    def _take(self, old_objects, new_objects, changed: dict[str, set]) -> None:
        """Indexes the objects of one file: those gone out, those new in (by identity). Most
        stay in place, so only the positions that differ are looked at closely."""
        if len(old_objects) == len(new_objects):
            moved = [i for i, (a, b) in enumerate(zip(old_objects, new_objects)) if a is not b]
            old_objects = [old_objects[i] for i in moved]
            new_objects = [new_objects[i] for i in moved]
        new_ids = {id(o) for o in new_objects}
        old_ids = {id(o) for o in old_objects}
        for obj in old_objects:
            if id(obj) not in new_ids:
                self._index(obj, -1, changed)
        for obj in new_objects:
            if id(obj) not in old_ids:
                self._index(obj, +1, changed)

    def _index(self, obj, delta: int, changed: dict[str, set]) -> None:
        if isinstance(obj, Service):
            changed["services"].add(self._services.add(obj) if delta > 0 else self._services.remove(obj))
        elif isinstance(obj, EndpointSet):
            key = (obj.namespace, obj.service_name)
            if delta > 0:
                self._sets[key].append(obj)
                self._sorted_sets.add(obj)
            else:
                self._sets[key] = [s for s in self._sets[key] if s is not obj]
                if not self._sets[key]:
                    del self._sets[key]
                self._sorted_sets.remove(obj)
            changed["endpoints"].add(key)
        elif isinstance(obj, Pod):
            changed["pods"].add(self._pods.add(obj) if delta > 0 else self._pods.remove(obj))
            changed.setdefault("pod_labels", []).append((obj.namespace, obj.labels))
        elif isinstance(obj, Namespace):
            changed["namespaces"].add(self._namespaces.add(obj) if delta > 0 else self._namespaces.remove(obj))

    # -- allocation, resolution ----------------------------------------------------------
    def _allocate(self) -> set[Key]:
        """Allocates every Service again; returns the keys whose allocated object changed."""
        winners = self._services.winners
        result = allocate(winners.values(), self.nets, self.node_ports)
        self._allocation_diagnostics = result.diagnostics
        allocated: dict[Key, tuple[Service, Service]] = {}
        for svc in result.services:
            key = (svc.namespace, svc.name)
            given = winners[key]
            previous = self._allocated.get(key)
            if previous is not None and previous[0] is given and _same_allocation(previous[1], svc):
                svc = previous[1]
            allocated[key] = (given, svc)
        dirty = {k for k in allocated.keys() | self._allocated.keys()
                 if allocated.get(k, (None, None))[1] is not self._allocated.get(k, (None, None))[1]}
        self._allocated = allocated
        return dirty

    def _index_pods(self, keys: set[Key]) -> None:
        """Pods by namespace and by label, so a selector finds its candidates without a scan."""
        for key in keys:
            ns, name = key
            by_label = self._pod_labels.setdefault(ns, defaultdict(set))
            old = self._pods_by_ns.get(ns, {}).pop(name, None)
            if old is not None:
                for item in old.labels.items():
                    by_label[item].discard(name)
            pod = self._pods.winners.get(key)
            if pod is not None:
                self._pods_by_ns.setdefault(ns, {})[name] = pod
                for item in pod.labels.items():
                    by_label[item].add(name)

    def _selected_by(self, labels: Iterable[tuple[str, dict]]) -> set[Key]:
        """Services whose selector matches the old or new labels of a Pod that changed."""
        if not labels:
            return set()
        wanted = defaultdict(list)
        for ns, pod_labels in labels:
            wanted[ns].append(pod_labels)
        return {key for key, (_given, svc) in self._allocated.items()
                if key[0] in wanted and svc.selector
                and any(selects(svc.selector, pod_labels) for pod_labels in wanted[key[0]])}

    def _resolve(self, key: Key) -> None:
        entry = self._allocated.get(key)
        self._selector_warnings.pop(key, None)
        if entry is None:
            if self._views.pop(key, None) is not None:
                at = bisect.bisect_left(self._order, key)
                del self._order[at]
                del self._ordered_views[at]
            self._set_generated(key, ())
            return
        svc = entry[1]
        sets = self._sets.get(key)
        generated = ()
        if not sets and svc.selector and svc.type != "ExternalName":
            # the EndpointSlice controller gives ExternalName Services nothing
            selected = self._pods_selected(svc)
            generated = endpoint_sets_from_pods(svc, selected)
            warning = selector_warning(svc, False, selected)
            if warning is not None:
                self._selector_warnings[key] = warning
        self._set_generated(key, generated)
        view = resolve_service(svc, sets or generated)
        at = bisect.bisect_left(self._order, key)
        if key not in self._views:
            self._order.insert(at, key)
            self._ordered_views.insert(at, view)
        else:
            self._ordered_views[at] = view
        self._views[key] = view

    def _set_generated(self, key: Key, generated: tuple[EndpointSet, ...]) -> None:
        for es in self._generated.pop(key, ()):
            self._sorted_sets.remove(es)
        if generated:
            self._generated[key] = generated
            for es in generated:
                self._sorted_sets.add(es)

    def _pods_selected(self, svc: Service) -> list[Pod]:
        """The Pods of svc's namespace its selector matches, by the smallest label posting."""
        by_label = self._pod_labels.get(svc.namespace)
        pods = self._pods_by_ns.get(svc.namespace)
        if not by_label or not pods:
            return []
        postings = [by_label.get(item, ()) for item in svc.selector.items()]
        names = min(postings, key=len)
        return [pods[n] for n in names if selects(svc.selector, pods[n].labels)]

    # -- the Snapshot --------------------------------------------------------------------------
    def _assemble(self, results: dict, generation: int, changed: dict[str, set], dirty: set[Key]) -> Snapshot:
        last = self._last
        services = tuple(self._ordered_views)
        if last is None or changed["endpoints"] or changed["pods"] or dirty:
            endpoint_sets = self._sorted_sets.snapshot()
        else:
            endpoint_sets = last.endpoint_sets
        pods = last.pods if last is not None and not changed["pods"] else \
            tuple(sorted(self._pods.winners.values(), key=lambda p: (p.namespace, p.name)))
        namespaces = last.namespaces if last is not None and not changed["namespaces"] else \
            tuple(sorted(self._namespaces.winners.values(), key=lambda n: n.name))
        diagnostics = [d for fr in results.values() for d in fr.diagnostics]
        # Found here, about objects whose documents may have moved since: at today's lines.
        found = [pair for definitions in (self._services, self._pods, self._namespaces)
                 for pairs in definitions.diagnostics.values() for pair in pairs]
        winners = self._services.winners
        found += [(d, winners.get((d.namespace or "", d.name))) for d in self._allocation_diagnostics]
        found += [(d, self._allocated[key][1]) for key, d in self._selector_warnings.items()]
        diagnostics += [_at_current_line(d, obj) for d, obj in found]
        # what changed since the last Snapshot, for consumers that handled that one (lb.plan):
        # they need not look at the other views
        changes = None if last is None else Changes(id(last), MappingProxyType(
            {f"{ns}/{name}": self._views.get((ns, name)) for ns, name in dirty}))
        return Snapshot(
            generation=generation,
            services=services,
            endpoint_sets=endpoint_sets,
            pods=pods,
            namespaces=namespaces,
            diagnostics=tuple(sorted(diagnostics, key=_diagnostic_order)),
            skipped=tuple(s for fr in results.values() for s in fr.skipped),
            files=tuple(results),
            file_mtimes={path: fr.mtime for path, fr in results.items()},
            changes=changes,
        )


def _same_files(old: dict, new: dict) -> bool:
    """Whether two builds' files hold the same objects (by identity), diagnostics and times."""
    if old.keys() != new.keys():
        return False
    for path, fr in new.items():
        before = old[path]
        if fr is before:
            continue
        if (fr.mtime != before.mtime or fr.diagnostics != before.diagnostics or fr.skipped != before.skipped
                or len(fr.objects) != len(before.objects)
                or any(a is not b for a, b in zip(fr.objects, before.objects))):
            return False
    return True


def _at_current_line(d: Diagnostic, obj) -> Diagnostic:
    """d with its line read again from obj's document, which may have moved since."""
    if obj is None or obj.source is None or not d.line:
        return d
    line = obj.source.line_of(d.field or "metadata.name")
    return d if line == d.line else replace(d, line=line)


def _diagnostic_order(d: Diagnostic):
    return (d.path, d.line, d.column or 0)


def _same_allocation(a: Service, b: Service) -> bool:
    return (a.cluster_ips == b.cluster_ips and a.forward_ip == b.forward_ip and a.ip_families == b.ip_families
            and a.ip_family_policy == b.ip_family_policy
            and tuple(p.node_port for p in a.ports) == tuple(p.node_port for p in b.ports))


def _same_definition(a, b) -> bool:
    if getattr(a, "manifest", None) is not None and getattr(b, "manifest", None) is not None:
        return a.manifest == b.manifest
    return replace(a, source=None) == replace(b, source=None)


def _file_order(obj):
    src = obj.source
    return src.order() if src else ("", 0, 0)

