"""kubectl fidelity of `lb get` and `lb describe`: AGE from creationTimestamp, describe's
Service lines, load balancer ingress, READY, -o yaml|json|name|jsonpath|custom-columns,
label selectors, --show-labels, and describe endpoints|endpointslices|pods.
Golden outputs live in tests/golden/ (regenerate: LB_UPDATE_GOLDEN=1)."""
from __future__ import annotations

import textwrap
import time
from datetime import datetime, timezone

import pytest
from test_cli_offline import check_golden, lb

from lb.kubectl.formats import go_yaml, reads_back_as_other_than_text
from lb.kubectl.jsonpath import JSONPathError, execute
from lb.kubectl.selectors import SelectorError, parse_selector

AGE_278D = 278 * 86400 + 3600


def rfc3339(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


CREATED = rfc3339(AGE_278D)       # "278d" for the next 23 hours


SHOP = """\
apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: study
  creationTimestamp: "{created}"
  labels: {{app: shop, tier: edge}}
  managedFields:
  - {{manager: kubectl-client-side-apply, operation: Update, apiVersion: v1}}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.50
  selector: {{app: shop}}
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  trafficDistribution: PreferClose
  ports:
  - {{name: http, port: 80, targetPort: 8080, nodePort: 30080, appProtocol: http}}
status:
  loadBalancer:
    ingress:
    - {{ip: 192.0.2.20, ipMode: Proxy}}
    - {{hostname: shop.example.com}}
    - {{ip: 192.0.2.3}}
---
apiVersion: v1
kind: Service
metadata: {{name: cart, namespace: study, labels: {{app: cart}}}}
spec:
  clusterIP: 10.96.0.51
  selector: {{app: cart}}
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: admin, namespace: study, labels: {{app: admin, tier: internal}}}}
spec:
  clusterIP: 10.96.0.52
  ports: [{{port: 9000}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: shop-1
  namespace: study
  creationTimestamp: "{created}"
  labels: {{app: shop}}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: shop-5d8f, controller: true, uid: u1}}]
spec:
  nodeName: node1
  serviceAccountName: default
  containers:
  - name: web
    image: nginx:1.27
    command: [nginx, -g, daemon off;]
    ports: [{{name: http, containerPort: 8080}}]
    env: [{{name: MODE, value: shop}}, {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]
    resources: {{limits: {{cpu: 500m, memory: 128Mi}}}}
    readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 5}}
    volumeMounts: [{{name: cache, mountPath: /var/cache/nginx}}]
  volumes: [{{name: cache, emptyDir: {{}}}}]
  tolerations: [{{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}}]
status:
  phase: Running
  hostIP: 192.0.2.101
  podIP: 10.244.1.5
  podIPs: [{{ip: 10.244.1.5}}]
  conditions: [{{type: Ready, status: "True"}}, {{type: ContainersReady, status: "True"}}]
  containerStatuses:
  - name: web
    ready: true
    restartCount: 2
    image: nginx:1.27
    imageID: docker.io/library/nginx@sha256:abc
    containerID: containerd://0123
    state: {{running: {{startedAt: "2024-01-02T03:04:05Z"}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: cart-1, namespace: study, labels: {{app: cart}}}}
spec:
  containers: [{{name: web, image: cart:1}}]
status: {{phase: Running, podIP: 10.244.1.6, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: admin-x1
  namespace: study
  creationTimestamp: "{created}"
  labels: {{kubernetes.io/service-name: admin}}
addressType: IPv4
ports: [{{name: "", port: 9000, protocol: TCP}}]
endpoints:
- addresses: [10.244.2.7]
  conditions: {{ready: true}}
  nodeName: node2
  zone: zone-b
  targetRef: {{kind: Pod, name: admin-1, namespace: study}}
- addresses: [10.244.2.8]
  conditions: {{ready: false}}
"""


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(SHOP.format(created=CREATED))
    return path


def get(shop, *args):
    return lb("get", *args, "-n", "study", "-f", shop)


# --- AGE, ingress, READY ------------------------------------------------------------

def test_age_is_the_creation_timestamp_not_the_file_time(shop):
    # the file was written just now; the objects say they were made 278 days ago
    rows = {line.split()[0]: line.split() for line in get(shop, "svc").stdout.splitlines()[1:]}
    assert rows["shop"][-1] == "278d"
    assert rows["cart"][-1] in ("0s", "1s", "2s", "3s")        # no creationTimestamp: the file's mtime
    assert get(shop, "pods", "shop-1").stdout.splitlines()[1].split()[-1] == "278d"
    assert get(shop, "endpointslices", "admin-x1").stdout.splitlines()[1].split()[-1] == "278d"


def test_external_ip_lists_ingress_ips_and_hostnames_sorted(shop):
    r = get(shop, "svc", "shop", "-o", "wide")
    assert r.stdout.splitlines()[1].split()[3] == "192.0.2.20,192.0.2.3,shop.example.com"
    assert get(shop, "svc", "shop").stdout.splitlines()[1].split()[3] == "192.0.2.20,19..."


def test_pod_without_container_statuses_is_not_ready(shop):
    rows = {line.split()[0]: line.split() for line in get(shop, "pods").stdout.splitlines()[1:]}
    assert rows["cart-1"][1:4] == ["0/1", "Running", "0"]
    assert rows["shop-1"][1:4] == ["1/1", "Running", "2"]


def test_describe_service_has_kubectls_traffic_and_ingress_lines(shop):
    r = lb("describe", "svc", "shop", "-n", "study", "-f", shop)
    assert r.returncode == 0, r.stderr
    lines = [" ".join(line.split()) for line in r.stdout.splitlines()]
    assert "LoadBalancer Ingress: 192.0.2.20 (Proxy), shop.example.com, 192.0.2.3 (VIP)" in lines
    assert "AppProtocol: http" in lines
    tail = lines[lines.index("Session Affinity: None"):]
    assert tail == ["Session Affinity: None", "External Traffic Policy: Local", "Internal Traffic Policy: Cluster",
                    "HealthCheck NodePort: 32000", "Traffic Distribution: PreferClose", "Events: <none>"]


# --- names, selectors, labels -------------------------------------------------------

def test_name_with_all_namespaces_is_refused_as_kubectl_does(shop):
    r = lb("get", "svc", "shop", "-A", "-f", shop)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "error: a resource cannot be retrieved by name across all namespaces\n"


@pytest.mark.parametrize("selector, names", [
    ("app=shop", ["shop"]), ("app==cart", ["cart"]), ("app!=shop", ["admin", "cart"]),
    ("tier", ["admin", "shop"]), ("!tier", ["cart"]), ("app in (shop,cart)", ["cart", "shop"]),
    ("tier notin (edge)", ["admin", "cart"]), ("app in (shop),tier=edge", ["shop"]), ("app=none", []),
])
def test_label_selectors(shop, selector, names):
    r = get(shop, "svc", "-l", selector, "-o", "name")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"service/{n}" for n in names]
    if not names:
        assert r.stderr == "No resources found in study namespace.\n"


def test_bad_selector_is_a_usage_error(shop):
    r = get(shop, "svc", "-l", "app in shop")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    with pytest.raises(SelectorError):
        parse_selector("a=b,")


def test_show_labels_adds_the_labels_column(shop):
    lines = get(shop, "svc", "--show-labels").stdout.splitlines()
    assert lines[0].split()[-1] == "LABELS"
    assert lines[1].split()[-1] == "app=admin,tier=internal" and lines[2].split()[-1] == "app=cart"


def test_output_name_uses_each_resources_group(shop):
    assert get(shop, "endpointslices", "admin-x1", "-o", "name").stdout == "endpointslice.discovery.k8s.io/admin-x1\n"
    assert get(shop, "pods", "-o", "name").stdout == "pod/cart-1\npod/shop-1\n"
    assert get(shop, "ep", "shop", "-o", "name").stdout == "endpoints/shop\n"


# --- -o yaml|json|jsonpath|custom-columns -------------------------------------------

def test_yaml_is_kubectls_sorted_quoted_and_without_managed_fields(shop):
    r = get(shop, "svc", "shop", "-o", "yaml")
    assert r.returncode == 0, r.stderr
    text = r.stdout.replace(CREATED, "CREATED")
    check_golden("get_svc_yaml_shop.txt", text)
    assert "managedFields" not in text
    full = get(shop, "svc", "shop", "-o", "yaml", "--show-managed-fields").stdout
    assert "  managedFields:\n  - apiVersion: v1\n    manager: kubectl-client-side-apply\n" in full
    listing = get(shop, "svc", "-o", "json").stdout
    assert listing.startswith('{\n    "apiVersion": "v1",\n    "items": [\n') and "managedFields" not in listing


def test_yaml_quotes_what_go_would_read_as_something_else():
    doc = {"labels": {"on": "yes", "v": "1.5", "when": "2024-01-02", "port10": "a", "port9": "b", "a_b": "c",
                      "aB": "d", "text": "a: b", "plain": "nginx"}, "n": 80, "multi": "one\ntwo\n"}
    assert go_yaml(doc) == textwrap.dedent("""\
        labels:
          a_b: c
          aB: d
          "on": "yes"
          plain: nginx
          port9: b
          port10: a
          text: 'a: b'
          v: "1.5"
          when: "2024-01-02"
        multi: |
          one
          two
        "n": 80
        """)
    assert not reads_back_as_other_than_text("10.0.0.1") and reads_back_as_other_than_text("0x1F")


def test_jsonpath_templates(shop):
    r = get(shop, "svc", "-o", "jsonpath={.items[*].metadata.name}")
    assert (r.returncode, r.stdout) == (0, "admin cart shop")
    r = get(shop, "svc", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.spec.clusterIP}{"\\n"}{end}')
    assert r.stdout == "admin\t10.96.0.52\ncart\t10.96.0.51\nshop\t10.96.0.50\n"
    r = get(shop, "svc", "shop", "-o", "jsonpath={.status.loadBalancer.ingress[?(@.ipMode==\"Proxy\")].ip}")
    assert r.stdout == "192.0.2.20"
    r = get(shop, "svc", "shop", "-o", "jsonpath={.metadata.labels}")
    assert r.stdout == '{"app":"shop","tier":"edge"}'
    r = get(shop, "svc", "shop", "-o", "jsonpath={.spec.ports[3]}")
    assert r.returncode == 1 and "array index out of bounds: index 3, length 1" in r.stderr
    r = get(shop, "svc", "-o", "jsonpath={.items[")
    assert r.returncode == 2 and r.stderr == "error: error parsing jsonpath {.items[, unterminated array\n"


def test_jsonpath_engine_on_plain_data():
    data = {"items": [{"n": "a", "ports": [1, 2]}, {"n": "b", "ports": [3]}]}
    assert execute("{.items[-1].n}", data) == "b"
    assert execute("{.items[0:2].n}", data) == "a b"
    assert execute("{..ports[0]}", data) == "1 3"
    assert execute("{.items[?(@.n=~'^a')].ports}", data) == "[1,2]"
    assert execute("x{.missing}y", data) == "xy"
    with pytest.raises(JSONPathError):
        execute("{.items[0].n", data)


def test_custom_columns(shop):
    r = get(shop, "svc", "-o", "custom-columns=NAME:.metadata.name,PORTS:.spec.ports[*].port,LB:status.loadBalancer"
                               ".ingress[*].ip")
    assert r.stdout == ("NAME    PORTS   LB\n"
                        "admin   9000    <none>\n"
                        "cart    80      <none>\n"
                        "shop    80      192.0.2.20,192.0.2.3\n")
    r = get(shop, "svc", "-o", "custom-columns=NAME")
    assert r.returncode == 2 and "expected <header>:<json-path-expr>" in r.stderr


# --- describe endpoints, endpointslices, pods ---------------------------------------

@pytest.mark.parametrize("golden, argv", [
    ("describe_ep_shop.txt", ["ep", "shop"]),
    ("describe_endpointslice_shop.txt", ["endpointslices", "admin-x1"]),
    ("describe_pod_shop.txt", ["pod", "shop-1"]),
])
def test_describe_layouts(shop, golden, argv):
    r = lb("describe", *argv, "-n", "study", "-f", shop)
    assert r.returncode == 0, r.stderr
    check_golden(golden, r.stdout)
