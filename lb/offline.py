"""`lb validate|get|describe|render`: commands that read manifests and print, no serving.

Each handler takes the ManifestSettings and options lb.cli parsed, and returns the
exit code: 0 success, 1 invalid manifests or a missing object, 2 usage errors (bad
flags or paths). Messages mirror kubectl's ("No resources found in study namespace.").
"""
from __future__ import annotations

import functools
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lb.kubectl import formats, jsonpath, tables
from lb.kubectl.resources import resource_named
from lb.kubectl.selectors import parse_selector
from lb.config.loader import STDIN, STDIN_NAME, check_paths, load_paths
from lb.diagnostics import ERROR, WARNING
from lb.settings import DEFAULT_HOSTS_FILE, DEFAULT_SCHEDULER, ManifestSettings
from lb.snapshot import Snapshot
from lb.snapshot.build import build_snapshot
from lb.snapshot.controllers import SELECTS_NO_POD

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
    output: str | None = None        # wide, yaml, json, name, jsonpath=..., custom-columns=...
    selector: str | None = None      # -l
    show_labels: bool = False
    show_managed_fields: bool = False
    resolvers: tuple[str, ...] = ()  # describe: where ExternalName targets are looked up
    hosts_file: str = DEFAULT_HOSTS_FILE


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
    resource = resource_named(query.resource)
    if resource is None:
        _err(f'error: the server doesn\'t have a resource type "{query.resource}"')
        return 2
    output = _output(query)
    found = _find(settings, query, resource)
    if isinstance(found, int):
        return found
    snap, items = found
    if query.output in ("yaml", "json"):
        doc = _document(items, one=bool(query.name))
        doc = doc if query.show_managed_fields else formats.without_managed_fields(doc)
        sys.stdout.write(formats.go_yaml(doc) if query.output == "yaml" else formats.go_json(doc, indent=4) + "\n")
    elif query.output == "name":
        sys.stdout.write("".join(f"{resource.name_prefix}/{it.name}\n" for it in items))
    elif isinstance(output, list) and query.output.startswith("custom-columns"):
        sys.stdout.write(formats.custom_columns(output, [_plain(it.manifest) for it in items]))
    elif isinstance(output, list):      # jsonpath: on the object, or on the List of them
        try:
            sys.stdout.write(jsonpath.execute(output, _document(items, one=bool(query.name))))
        except jsonpath.JSONPathError as exc:
            _err(f'error: error executing jsonpath "{query.output.partition("=")[2]}": {exc}')
            return 1
    else:
        wide = query.output == "wide"
        sys.stdout.write(tables.render(resource.wide_columns if wide else resource.columns, resource.row, items,
                                       time.time(), wide=wide, all_namespaces=query.all_namespaces,
                                       show_labels=query.show_labels))
    return 0


OUTPUTS = ("wide", "yaml", "json", "name", "jsonpath=TEMPLATE", "custom-columns=SPEC")


def _output(query: Query):
    """The parsed template of -o jsonpath= / custom-columns=; UsageError for a format or
    template kubectl would refuse."""
    kind, sep, spec = (query.output or "").partition("=")
    if query.output is None or (not sep and kind in ("wide", "yaml", "json", "name")):
        return None
    try:
        if kind == "jsonpath":
            if not spec:
                raise UsageError("error: template format specified but no template given")
            return jsonpath.parse(spec)
        if kind == "custom-columns":
            return formats.parse_custom_columns(spec)
    except jsonpath.JSONPathError as exc:
        raise UsageError(f"error: error parsing jsonpath {spec}, {exc}") from None
    except ValueError as exc:
        raise UsageError(f"error: {exc}") from None
    raise UsageError(f'error: unable to match a printer suitable for the output format "{query.output}", '
                     f"allowed formats are: {','.join(OUTPUTS)}")


def _find(settings: ManifestSettings, query: Query, resource):
    """(snapshot, the items asked for), or the exit code after saying why there are none."""
    if query.name and query.all_namespaces:
        _err("error: a resource cannot be retrieved by name across all namespaces")
        return 1
    selector = None
    if query.selector is not None:
        if query.name:
            _err("error: name cannot be provided when a selector is specified")
            return 1
        try:
            selector = parse_selector(query.selector)
        except ValueError as exc:
            raise UsageError(f"error: {exc}") from None
    snap = _load(settings)
    _report_errors(snap)
    namespace = _scope(query)
    items = sorted((it for it in resource.collect(snap) if namespace is None or it.namespace == namespace),
                   key=lambda it: (it.namespace, it.name))
    if selector is not None:
        items = [it for it in items if selector.matches(it.labels)]
    if query.name:
        items = [it for it in items if it.name == query.name]
        if not items:
            _err(f'Error from server (NotFound): {resource.plural} "{query.name}" not found')
            return 1
    if not items:
        _none_found(namespace)
        return 0
    if resource.plural in ("services", "endpoints"):
        _report_selectors_without_pods(snap, {(it.namespace, it.name) for it in items})
    return snap, items


def _document(items: list, one: bool) -> dict:
    """What the API server would answer: the object, or a List of them."""
    docs = [_plain(it.manifest) for it in items]
    return docs[0] if one else {"apiVersion": "v1", "items": docs, "kind": "List", "metadata": {"resourceVersion": ""}}


def _plain(obj):
    """Mappings and tuples as dicts and lists, for the YAML and JSON encoders."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# --- describe ----------------------------------------------------------------------

@command
def describe(settings: ManifestSettings, query: Query) -> int:
    resource = resource_named(query.resource)
    if resource is None:
        _err(f'error: the server doesn\'t have a resource type "{query.resource}"')
        return 2
    found = _find(settings, query, resource)
    if isinstance(found, int):
        return found
    snap, items = found
    names = {}
    forwarded = [it.obj.service.external_name for it in items if getattr(it.obj, "service", None) is not None
                 and it.obj.service.forward_ip]
    if forwarded:
        from lb.sources.externalname import resolve_once
        names = resolve_once(forwarded, hosts_path=query.hosts_file, nameservers=query.resolvers or None)
    # kubectl separates described objects with two empty lines
    sys.stdout.write("\n\n".join(resource.describe(it, snap, names) for it in items))
    return 0


# --- render ------------------------------------------------------------------------

@command
def render(settings: ManifestSettings, mode: str, node_ips: tuple[str, ...] = (),
           scheduler: str = DEFAULT_SCHEDULER) -> int:
    snap = _load(settings)
    if snap.errors:
        for diag in snap.diagnostics:
            _err(str(diag))
        return 1
    from lb.kernel import IPVS_MISSING, ipvs_available
    from lb.render import render as render_rules
    warnings: list[str] = []
    text = render_rules(snap, mode, node_ips, warnings=warnings, scheduler=scheduler)
    if mode == "ipvs" and not ipvs_available():
        warnings.append(f"{IPVS_MISSING}: the rules are ipvsadm-restore input for a machine that has it")
    for note in warnings:
        _err(f"lb render: {note}")
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0
