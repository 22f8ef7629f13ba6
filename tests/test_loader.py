"""Loading manifest files: every shape real manifests come in, line numbers, and
the errors and warnings kubectl would give for them."""
from __future__ import annotations

import os

import pytest

from lb.config.loader import load_file, load_paths
from lb.config.model import EndpointSet, Namespace, Pod, Service
from lb.diagnostics import ERROR, WARNING

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "manifests")

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: study
spec:
  selector:
    app: web
  ports:
  - port: 80
"""


def load_text(tmp_path, text, name="m.yaml", raw: bytes | None = None):
    path = tmp_path / name
    path.write_bytes(raw if raw is not None else text.encode())
    return load_file(str(path))


def names(result) -> list[str]:
    return [o.name for o in result.objects]


def messages(result, severity=None) -> list[str]:
    return [str(d).split(": ", 1)[1] for d in result.diagnostics if severity in (None, d.severity)]


# ---- shapes ----

@pytest.mark.parametrize("shape,text", [
    ("plain", SERVICE),
    ("leading-document-marker", "---\n" + SERVICE),
    ("end-marker", SERVICE + "...\n"),
    ("no-trailing-newline", SERVICE.rstrip("\n")),
    ("utf8-comments", "# Service für Web ✓\n" + SERVICE.replace("port: 80", "port: 80  # 端口")),
    ("flow-style", '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "study"},'
                   ' "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}'),
    ("empty-documents", "---\n---\n# only a comment\n---\n" + SERVICE + "---\n"),
    ("list", "apiVersion: v1\nkind: List\nitems:\n- " + SERVICE.replace("\n", "\n  ").rstrip() + "\n"),
    ("typed-list", "apiVersion: v1\nkind: ServiceList\nitems:\n- metadata: {name: web, namespace: study}\n"
                   "  spec: {selector: {app: web}, ports: [{port: 80}]}\n"),
])
def test_shapes_load_one_service(tmp_path, shape, text):
    result = load_text(tmp_path, text)
    assert result.diagnostics == ()
    assert names(result) == ["web"]
    svc = result.objects[0]
    assert (svc.namespace, svc.ports[0].port, svc.selector) == ("study", 80, {"app": "web"})


def test_crlf_line_endings_and_bom(tmp_path):
    raw = b"\xef\xbb\xbf" + (SERVICE + "---\n" + SERVICE.replace("name: web", "name: api")).replace("\n", "\r\n").encode()
    result = load_text(tmp_path, "", raw=raw)
    assert names(result) == ["web", "api"]
    assert result.objects[1].source.line == 12
    assert result.objects[1].source.line_of("spec.ports[0].port") == 21


def test_multi_document_file_keeps_document_index_and_lines(tmp_path):
    text = SERVICE + "---\n" + SERVICE.replace("name: web", "name: api").replace("port: 80", "port: 81")
    result = load_text(tmp_path, text)
    web, api = result.objects
    assert (web.source.line, web.source.index, api.source.line, api.source.index) == (1, 0, 12, 1)
    assert api.source.line_of("metadata.name") == 15
    assert api.source.line_of("spec.ports[0]") == 21
    assert api.source.line_of("spec.ports[0].port") == 21
    assert api.source.line_of("spec.ports[0].nodePort") == 21   # falls back to the nearest written ancestor
    assert web.source.mtime == result.mtime == os.stat(web.source.path).st_mtime


def test_json_file_with_tab_indentation_and_typed_list():
    result = load_file(os.path.join(FIXTURES, "service-list.json"))
    assert result.diagnostics == ()
    assert names(result) == ["a", "b"]
    assert [o.source.line for o in result.objects] == [6, 10]   # each item's first key


def test_timestamps_stay_strings_and_octal_and_booleans_follow_yaml_1_1(tmp_path):
    text = SERVICE.replace("  namespace: study\n", "  namespace: study\n  labels: {released: 2024-05-01}\n"
                                                    "  creationTimestamp: 2024-05-01T10:00:00Z\n")
    result = load_text(tmp_path, text)
    assert result.objects[0].labels == {"released": "2024-05-01"}
    assert result.objects[0].manifest["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"


@pytest.mark.parametrize("label,shown,got", [
    ("yes", "true", "boolean"), ("on", "true", "boolean"), ("off", "false", "boolean"),
    ("1.0", "1.0", "number"), ("0755", "493", "integer"),
])
def test_a_label_value_yaml_reads_as_non_string_is_an_error(tmp_path, label, shown, got):
    text = SERVICE.replace("    app: web\n", f"    app: web\n    canary: {label}\n")
    result = load_text(tmp_path, text)
    assert result.objects == ()
    (diag,) = result.diagnostics
    assert (diag.severity, diag.line, diag.field) == (ERROR, 9, "spec.selector[canary]")
    assert str(diag).startswith(f'{diag.path}:9: Service "study/web" is invalid: spec.selector[canary]: '
                                f"Invalid value: {shown}: expected string, got {got}")


@pytest.mark.parametrize("field,value,message", [
    ("port", '"80"', 'spec.ports[0].port: Invalid value: "80": expected integer, got string'),
    ("port", "[80]", "spec.ports[0].port: Invalid value: array: expected integer, got array"),
    ("targetPort", "true", "spec.ports[0].targetPort: Invalid value: true: expected integer or string, got boolean"),
])
def test_wrongly_typed_fields_are_errors(tmp_path, field, value, message):
    text = SERVICE.replace("  - port: 80\n", f"  - port: 80\n    {field}: {value}\n" if field != "port"
                           else f"  - port: {value}\n")
    result = load_text(tmp_path, text)
    assert result.objects == ()
    assert messages(result) == [f'Service "study/web" is invalid: {message}']


def test_nulls_are_unset_fields(tmp_path):
    text = SERVICE.replace("spec:\n", "spec:\n  type: null\n  clusterIP:\n  sessionAffinityConfig: ~\n")
    result = load_text(tmp_path, text)
    assert result.diagnostics == ()
    assert (result.objects[0].type, result.objects[0].cluster_ip) == ("ClusterIP", "")


# ---- kinds ----

def test_the_seed_blog_namespace_under_apps_v1_is_kubectls_error():
    result = load_file(os.path.join(FIXTURES, "seed-blog.yaml"))
    assert [str(d) for d in result.diagnostics] == [
        f'{result.path}:3: error: no matches for kind "Namespace" in version "apps/v1"']
    assert result.skipped == (f'{result.path}:8: skipped apps/v1 Deployment "study/service-environment-deployment"',)
    (svc,) = result.objects
    assert (svc.key, svc.cluster_ip, svc.source.line) == ("study/service-clusterip", "10.97.97.97", 29)


@pytest.mark.parametrize("api_version,kind", [
    ("v1", "ConfigMap"), ("apps/v1", "StatefulSet"), ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "Ingress"), ("example.com/v1", "Widget"),
])
def test_other_kinds_are_skipped_not_errors(tmp_path, api_version, kind):
    result = load_text(tmp_path, f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\nspec: 3\n")
    assert (result.objects, result.diagnostics) == ((), ())
    assert result.skipped == (f'{result.path}:1: skipped {api_version} {kind} "x"',)


@pytest.mark.parametrize("api_version,kind", [
    ("apps/v1", "Namespace"), ("v2", "Service"), ("v1", "EndpointSlice"), ("discovery.k8s.io/v1", "Endpoints"),
])
def test_a_known_kind_under_a_wrong_api_version_is_an_error(tmp_path, api_version, kind):
    result = load_text(tmp_path, f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n")
    assert messages(result) == [f'error: no matches for kind "{kind}" in version "{api_version}"']


@pytest.mark.parametrize("text,message", [
    ("- a\n- b\n", "error: document 2 is a list, not a Kubernetes object (a mapping with apiVersion and kind)"),
    ("just text\n", "error: document 2 is a scalar, not a Kubernetes object (a mapping with apiVersion and kind)"),
    ("kind: Service\nmetadata: {name: x}\n", "error: error validating data: apiVersion not set"),
    ("apiVersion: v1\nmetadata: {name: x}\n", "error: error validating data: kind not set"),
    ("metadata: {name: x}\n", "error: error validating data: [apiVersion not set, kind not set]"),
    ("apiVersion: v1\nkind: [Service]\n", "error: error validating data: kind not set"),
])
def test_documents_that_are_not_objects_are_errors_not_crashes(tmp_path, text, message):
    result = load_text(tmp_path, "---\n" + SERVICE + "---\n" + text)
    assert names(result) == ["web"]
    assert messages(result) == [message]
    assert result.diagnostics[0].line == 13


@pytest.mark.parametrize("text,line,column,problem", [
    ("apiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\n", 4, 10, "mapping values are not allowed"),
    ("apiVersion: v1\nkind: Service\nspec: {ports: [80}\n", 3, 18, "did not find expected"),
    ("apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n", 4, 1, "(a tab: YAML indents with spaces only)"),
    ("a: b\n  c: d\n", 2, 4, "mapping values are not allowed"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: !Ref x}\n", 3, 18, "could not determine a constructor"),
])
def test_yaml_syntax_errors_have_line_and_column(tmp_path, text, line, column, problem):
    result = load_text(tmp_path, text)
    (diag,) = result.diagnostics
    assert (diag.severity, diag.line, diag.column) == (ERROR, line, column)
    assert problem in diag.message
    assert str(diag).startswith(f"{result.path}:{line}:{column}: error: ")


def test_documents_before_a_syntax_error_still_load(tmp_path):
    result = load_text(tmp_path, SERVICE + "---\nkey: [unclosed\n")
    assert names(result) == ["web"] and len(result.errors) == 1


def test_recursive_alias_is_an_error(tmp_path):
    result = load_text(tmp_path, "apiVersion: v1\nkind: Service\nmetadata: &m\n  name: x\n  self: *m\n")
    assert "recursive alias" in messages(result)[0]


def test_merge_keys_are_followed(tmp_path):
    text = ("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n"
            "  - &http {name: http, port: 80, protocol: TCP}\n  - <<: *http\n    name: alt\n    port: 8080\n")
    result = load_text(tmp_path, text)
    assert [(p.name, p.port) for p in result.objects[0].ports] == [("http", 80), ("alt", 8080)]


def test_invalid_utf8_is_an_error_with_its_line(tmp_path):
    result = load_text(tmp_path, "", raw=SERVICE.encode() + b"# \xff\n")
    assert [(d.line, d.message) for d in result.diagnostics] == [(11, "invalid UTF-8 at byte 125")]


# ---- warnings ----

def test_unknown_fields_are_warnings_with_their_lines():
    result = load_file(os.path.join(FIXTURES, "dual-stack.yaml"))
    assert [(d.severity, d.line, d.message) for d in result.diagnostics] == [
        (WARNING, 22, 'unknown field "spec.ipFamily"')]
    assert str(result.diagnostics[0]) == f'{result.path}:22: Warning: unknown field "spec.ipFamily"'
    assert names(result) == ["my-service", "legacy"]


@pytest.mark.parametrize("extra,field", [
    ("  foo: 1\n", "spec.foo"),
    ("  ports:\n  - port: 80\n    nodeport: 30080\n", "spec.ports[0].nodeport"),
    ("  sessionAffinityConfig: {clientIp: {timeoutSeconds: 5}}\n", "spec.sessionAffinityConfig.clientIp"),
])
def test_unknown_field_paths_name_the_misspelt_field(tmp_path, extra, field):
    text = SERVICE.replace("  ports:\n  - port: 80\n", "") + "  ports:\n  - port: 80\n" * ("ports" not in extra) + extra
    result = load_text(tmp_path, text)
    assert messages(result, WARNING) == [f'Warning: unknown field "{field}"']
    assert names(result) == ["web"]


def test_pod_is_lenient_about_fields_lb_does_not_read(tmp_path):
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Always\n"
            "  containers: [{name: c, image: i, env: [{name: A, value: b}]}]\nstatus: {qosClass: BestEffort}\n"
            "extra: 1\n")
    result = load_text(tmp_path, text)
    assert messages(result) == ['Warning: unknown field "extra"']


def test_duplicate_keys_are_warnings_and_the_last_wins(tmp_path):
    result = load_text(tmp_path, SERVICE + "  type: NodePort\n  type: ClusterIP\n")
    assert [(d.line, d.message) for d in result.diagnostics] == [(12, 'duplicate field "spec.type"')]
    assert result.objects[0].type == "ClusterIP"


def test_namespace_defaults_to_default(tmp_path):
    result = load_text(tmp_path, SERVICE.replace("  namespace: study\n", ""))
    assert result.objects[0].namespace == "default"
    assert result.objects[0].manifest["metadata"]["namespace"] == "default"


# ---- validation errors carry file, line and object ----

def test_validation_error_has_the_line_of_the_field(tmp_path):
    text = SERVICE.replace("  - port: 80\n", "  - port: 80\n    nodePort: 30080\n  - port: 81\n    protocol: HTTP\n")
    result = load_text(tmp_path, text)
    assert result.objects == ()
    assert [str(d) for d in result.diagnostics] == [
        f'{result.path}:10: Service "study/web" is invalid: spec.ports[0].name: Required value',
        f'{result.path}:12: Service "study/web" is invalid: spec.ports[1].name: Required value',
        f'{result.path}:13: Service "study/web" is invalid: spec.ports[1].protocol: '
        'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        f'{result.path}:11: Service "study/web" is invalid: spec.ports[0].nodePort: '
        "Forbidden: may not be used when `type` is 'ClusterIP'",
    ]
    d = result.diagnostics[-1]
    assert (d.kind, d.namespace, d.name, d.field) == ("Service", "study", "web", "spec.ports[0].nodePort")


def test_kube_dns_template_cluster_ip_is_rejected_at_its_line():
    result = load_file(os.path.join(FIXTURES, "kube-dns.yaml"))
    assert [str(d) for d in result.diagnostics] == [
        f'{result.path}:19: Service "kube-system/kube-dns" is invalid: spec.clusterIPs[0]: '
        'Invalid value: "__DNS__SERVER__": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']


def test_invalid_namespace_object_is_named_without_namespace(tmp_path):
    result = load_text(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Study\n")
    assert str(result.diagnostics[0]).startswith(f'{result.path}:4: Namespace "Study" is invalid: metadata.name: ')


# ---- Endpoints, EndpointSlices, Pods, Namespaces ----

def test_endpoints_become_one_set_per_subset_and_family():
    result = load_file(os.path.join(FIXTURES, "endpoints.yaml"))
    sets = [o for o in result.objects if o.kind == "Endpoints"]
    assert [(s.address_type, [a.ip for a in s.addresses], [p.port for p in s.ports]) for s in sets] == [
        ("IPv4", ["192.0.2.10", "192.0.2.11"], [5432]), ("IPv6", ["2001:db8::10"], [5432]),
        ("IPv4", ["127.0.0.1"], [15432])]
    ready, not_ready = sets[0].addresses
    assert (ready.ready, ready.serving, ready.target_ref) == (True, True, "Pod/db-0")
    assert (not_ready.ready, not_ready.serving, not_ready.terminating) == (False, False, False)
    assert {s.service_name for s in sets} == {"external-db"} and sets[0].ports[0].protocol == "TCP"


def test_endpoint_slice_conditions_and_kube_proxy_rules():
    result = load_file(os.path.join(FIXTURES, "endpoints.yaml"))
    web = next(o for o in result.objects if isinstance(o, EndpointSet) and o.name == "web-abc12")
    assert web.service_name == "web" and web.kind == "EndpointSlice"
    assert [(a.ip, a.ready, a.serving, a.terminating) for a in web.addresses] == [
        ("10.244.1.39", True, True, False),      # conditions {}: ready, serving, not terminating
        ("10.244.1.40", False, True, True),      # first address only
        ("10.244.1.42", False, False, False)]    # serving nil => ready
    assert [(p.name, p.port) for p in web.ports] == [("http", 8080)]   # the port without a number is dropped
    old = next(o for o in result.objects if isinstance(o, EndpointSet) and o.name == "old-abc12")
    assert (old.addresses[0].node_name, old.addresses[0].zone) == ("node-2", "zone-a")
    assert [(d.severity, d.line, d.message) for d in result.diagnostics] == [
        (WARNING, 39, "only the first of 2 addresses is used, as kube-proxy does"),
        (WARNING, 44, "discovery.k8s.io/v1beta1 EndpointSlice is deprecated in v1.21+, unavailable in v1.25+; "
                      "use discovery.k8s.io/v1 EndpointSlice"),
        (WARNING, 60, 'no label "kubernetes.io/service-name": the EndpointSlice belongs to no Service and is '
                      "ignored, as kube-proxy does"),
        (WARNING, 74, "FQDN EndpointSlices are ignored, as kube-proxy ignores them")]
    assert {o.name for o in result.objects if o.kind == "EndpointSlice"} == {"web-abc12", "old-abc12"}


def test_pods_from_a_list_with_readiness_and_ports():
    result = load_file(os.path.join(FIXTURES, "pods.yaml"))
    web, dev = result.objects
    assert isinstance(web, Pod) and (web.ips, web.ready, web.terminating) == (("10.244.1.39", "fd00::39"), False, False)
    assert [(p.name, p.container_port, p.protocol) for p in web.container_ports] == [
        ("http", 8080, "TCP"), (None, 9090, "UDP")]
    assert (web.node_name, web.labels) == ("node-1", {"app": "web"})
    # no conditions but Running: ready (hand-written dev manifests); deletionTimestamp: terminating
    assert (dev.ips, dev.ready, dev.terminating) == (("127.0.0.1",), True, True)
    assert result.skipped == (f'{result.path}:34: skipped apps/v1 StatefulSet "study/db"',)


@pytest.mark.parametrize("status,ready", [
    ("{phase: Running, conditions: [{type: Ready, status: 'True'}]}", True),
    ("{phase: Running, conditions: [{type: Initialized, status: 'True'}]}", False),
    ("{phase: Pending}", False),
    ("{}", False),
])
def test_pod_readiness(tmp_path, status, ready):
    text = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec: {{containers: []}}\nstatus: {status}\n"
    assert load_text(tmp_path, text).objects[0].ready is ready


def test_namespace_objects(tmp_path):
    result = load_text(tmp_path, "apiVersion: v1\nkind: Namespace\nmetadata: {name: study, labels: {team: a}}\n")
    assert result.objects == (Namespace("study", {"team": "a"}, result.objects[0].source),)


# ---- paths ----

def test_load_paths_walks_folders_sorted_and_reports_missing_paths(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "..data").mkdir()
    for name in ("b/z.yml", "a.yaml", "b/c.json", ".git/x.yaml", "..data/a.yaml", "notes.txt", "b/.swap.yaml"):
        (tmp_path / name).write_text(SERVICE)
    missing = str(tmp_path / "gone.yaml")
    results = load_paths([str(tmp_path), missing])
    assert [os.path.relpath(r.path, tmp_path) for r in results] == ["a.yaml", "b/c.json", "b/z.yml", "gone.yaml"]
    assert [str(d) for d in results[-1].diagnostics] == [f'{missing}: error: the path "{missing}" does not exist']
    assert all(r.objects for r in results[:-1])


def test_a_named_file_is_read_whatever_its_suffix(tmp_path):
    (tmp_path / "svc.txt").write_text(SERVICE)
    (result,) = load_paths([str(tmp_path / "svc.txt")])
    assert names(result) == ["web"]


def test_whole_fixture_folder_loads_without_exceptions():
    results = load_paths([FIXTURES])
    assert len(results) == len([n for n in os.listdir(FIXTURES) if n.endswith((".yaml", ".json"))])
    kinds = {type(o) for r in results for o in r.objects}
    assert kinds == {Service, EndpointSet, Pod}


def test_nulls_inside_maps_and_lists_are_zero_values(tmp_path):
    text = ("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: study, labels: {empty: }}\n"
            "spec:\n  ports:\n  - ~\n  externalIPs: [~]\n")
    result = load_text(tmp_path, text)
    assert result.objects == ()
    assert messages(result) == [
        'Service "study/web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        'Service "study/web" is invalid: spec.ports[0].targetPort: Invalid value: 0: '
        "must be between 1 and 65535, inclusive",
        'Service "study/web" is invalid: spec.externalIPs[0]: Invalid value: "": '
        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    assert [d.line for d in result.diagnostics] == [6, 6, 7]


# --- re-reading: what an edit did not touch is not read again, and it reads the same ---------

def _fingerprint(result):
    objects = [(type(o).__name__, getattr(o, "namespace", ""), o.name, o.source.line, o.source.index,
                o.source.line_of("metadata.name")) for o in result.objects]
    return objects, [str(d) for d in result.diagnostics], list(result.skipped)


def test_random_edits_reread_as_a_fresh_read_does(tmp_path):
    """Edits anywhere (inside documents, across markers, at the ends) give what reading the
    file from scratch gives, lines and document numbers included."""
    import random
    from lb.config.loader import ManifestReader
    rnd = random.Random(5)
    docs = [SERVICE.replace("name: web", f"name: s{i}") for i in range(8)]
    snippets = ["---\n", "\n", "# x\n", "  port: 81\n", "kind: Service\n", "---", "name: a\n",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
                "\x07", "\x00", "...\n", "%YAML 1.1\n"]     # a control character, a document end, a directive
    path = tmp_path / "m.yaml"
    reader = ManifestReader()
    text = "---\n".join(docs)
    for step in range(300):
        path.write_text(text)
        assert _fingerprint(reader.read(str(path))) == _fingerprint(load_file(str(path))), (step, text)
        at = rnd.randrange(len(text) + 1)
        op = rnd.random()
        if op < 0.4:
            text = text[:at] + rnd.choice(snippets) + text[at:]
        elif op < 0.7:
            text = text[:at] + text[at + rnd.randint(1, 12):]
        else:
            i = rnd.randrange(len(docs))
            text = text.replace(f"name: s{i}\n", f"name: s{i}x\n", 1)
        if len(text) > 20000 or "s0" not in text:
            text = "---\n".join(docs)


def test_an_edit_in_the_middle_of_a_big_file_reads_one_document(tmp_path):
    from lb.config.loader import ManifestReader
    path = tmp_path / "m.yaml"
    docs = [SERVICE.replace("name: web", f"name: s{i}") for i in range(200)]
    path.write_text("---\n".join(docs))
    reader = ManifestReader()
    first = reader.read(str(path))
    line_150 = first.objects[150].source.line
    docs[100] = docs[100].replace("port: 80", "port: 81\n    # a longer document now")
    path.write_text("---\n".join(docs))
    second = reader.read(str(path))
    changed = [i for i, (a, b) in enumerate(zip(first.objects, second.objects)) if a is not b]
    assert changed == [100]
    assert second.objects[150] is first.objects[150] and second.objects[150].source.line == line_150 + 1
