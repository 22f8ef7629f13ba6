"""`lb validate|get|describe|render` as a user runs them: a subprocess, its output and
exit code. Golden outputs live in tests/golden/ (regenerate: LB_UPDATE_GOLDEN=1)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lb import kubectl
from lb.config.model import Service, ServicePort
from lb.config.model import Endpoint
from lb.snapshot import ResolvedPort, ServiceView

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "configs" / "seed"
GOLDEN = Path(__file__).resolve().parent / "golden"
AGE_278D = 278 * 86400 + 3600     # "278d" for the next 23 hours: stable while tests run


def lb(*args, cwd=None, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "lb", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=60, input=stdin)


@pytest.fixture
def seed(tmp_path):
    """A copy of configs/seed whose files are 278 days old, so AGE is stable."""
    dst = tmp_path / "seed"
    shutil.copytree(SEED, dst)
    stamp = time.time() - AGE_278D
    for path in dst.rglob("*"):
        os.utime(path, (stamp, stamp))
    return dst


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LB_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; run with LB_UPDATE_GOLDEN=1"
    assert text == path.read_text()


# --- the kubectl layout, without files ---------------------------------------------

def test_tabwriter_pads_columns_to_widest_cell_plus_three():
    out = kubectl.table(["NAME", "AGE"], [["service-clusterip", "10s"], ["a", "5m47s"]])
    assert out == ("NAME                AGE\n"
                   "service-clusterip   10s\n"
                   "a                   5m47s\n")


def test_tabwriter_column_blocks_break_on_lines_without_that_column():
    text = "Port:\t<unset>\t80/TCP\nTargetPort:\t80/TCP\nNodePort:\tlonger-name\t30002/TCP\n"
    assert kubectl.tabwrite(text, 0, 2) == ("Port:        <unset>  80/TCP\n"
                                          "TargetPort:  80/TCP\n"
                                          "NodePort:    longer-name  30002/TCP\n")


@pytest.mark.parametrize("seconds, text", [
    (10, "10s"), (119, "119s"), (347, "5m47s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (10 * 3600, "10h"),
    (2 * 86400, "2d"), (2 * 86400 + 3 * 3600, "2d3h"), (278 * 86400, "278d"), (3 * 365 * 86400 + 10 * 86400, "3y10d"),
    (-5, "<invalid>"),
])
def test_age_in_kubectl_duration_format(seconds, text):
    assert kubectl.human_duration(seconds) == text


def test_endpoints_cell_lists_three_then_counts_the_rest():
    subsets = ((("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), (80,)),)
    assert kubectl.format_endpoints(subsets) == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."
    assert kubectl.format_endpoints(()) == "<none>"


def test_describe_multiport_load_balancer_with_labels():
    ports = (ServicePort("http", "TCP", 80, "web", 30080), ServicePort("dns", "UDP", 53, 53, 30053))
    svc = Service(namespace="study", name="edge", type="LoadBalancer", ports=ports, selector={"b": "2", "a": "1"},
                  cluster_ip="10.96.0.20", cluster_ips=("10.96.0.20",), ip_families=("IPv4",),
                  ip_family_policy="SingleStack", external_ips=("192.0.2.1",), load_balancer_ingress=("192.0.2.9",),
                  session_affinity="ClientIP", affinity_timeout=10800, external_traffic_policy="Local",
                  internal_traffic_policy="Cluster", labels={"tier": "edge", "app": "web"},
                  annotations={"note": "hi"})
    eps = tuple(Endpoint(f"10.0.0.{i}", 8080, ready=i != 2) for i in range(1, 4))
    view = ServiceView(svc, (ResolvedPort(ports[0], eps, eps), ResolvedPort(ports[1], (), ())))
    assert kubectl.describe_service(view, True) == textwrap.dedent("""\
        Name:                     edge
        Namespace:                study
        Labels:                   app=web
                                  tier=edge
        Annotations:              note: hi
        Selector:                 a=1,b=2
        Type:                     LoadBalancer
        IP Family Policy:         SingleStack
        IP Families:              IPv4
        IP:                       10.96.0.20
        IPs:                      10.96.0.20
        External IPs:             192.0.2.1
        LoadBalancer Ingress:     192.0.2.9
        Port:                     http  80/TCP
        TargetPort:               web/TCP
        NodePort:                 http  30080/TCP
        Endpoints:                10.0.0.1:8080,10.0.0.3:8080
        Port:                     dns  53/UDP
        TargetPort:               53/UDP
        NodePort:                 dns  30053/UDP
        Endpoints:                
        Session Affinity:         ClientIP
        External Traffic Policy:  Local
        Internal Traffic Policy:  Cluster
        Events:                   <none>
        """)


# --- exit codes --------------------------------------------------------------------

def test_usage_errors_exit_2():
    assert lb("get", "svc").returncode == 2                         # -f is required
    r = lb("get", "svc", "-f", "no/such/dir")
    assert r.returncode == 2 and r.stderr == 'error: the path "no/such/dir" does not exist\n'
    r = lb("get", "widgets", "-f", SEED / "clusterip")
    assert r.returncode == 2 and 'doesn\'t have a resource type "widgets"' in r.stderr
    r = lb("validate", "--service-node-port-range", "32767-30000", "-f", SEED / "clusterip")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = lb("validate", "--service-cluster-ip-range", "10.96.0.1/12", "-f", SEED / "clusterip")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_validate_seed_is_clean():
    for scenario in sorted(p for p in SEED.iterdir() if p.is_dir()):
        r = lb("validate", "-f", scenario.relative_to(ROOT))
        assert r.returncode == 0, r.stderr
        assert "0 errors" in r.stdout.splitlines()[-1]


def test_validate_lists_every_error_with_file_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", """\
        apiVersion: v1
        kind: Service
        metadata: {name: a, namespace: study}
        spec:
          type: NodePort
          ports:
          - {port: 80, nodePort: 40000}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: b, namespace: study}
        spec:
          type: NodePort
          ports:
          - {name: x, port: 80, nodePort: 30002}
          - {name: y, port: 81, nodePort: 30003}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: c, namespace: study}
        spec:
          type: NodePort
          ports:
          - {name: x, port: 80, nodePort: 30003}
        """)
    r = lb("validate", "-f", path)
    assert r.returncode == 1
    assert f'{path}:7: Service "study/a" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not ' \
           'in the valid range. The range of valid ports is 30000-32767' in r.stderr
    assert f'Service "study/c" is invalid: spec.ports[0].nodePort: Invalid value: 30003: provided port is already ' \
           'allocated' in r.stderr
    assert r.stdout.splitlines()[-1] == f"{path}: 3 objects, 2 errors, 0 warnings"
    r = lb("render", "--mode", "ipvs", "-f", path)
    assert r.returncode == 1 and "provided port is not in the valid range" in r.stderr


def test_get_missing_object_and_empty_namespace(seed):
    r = lb("get", "svc", "nope", "-n", "study", "-f", seed / "clusterip")
    assert r.returncode == 1 and r.stderr == 'Error from server (NotFound): services "nope" not found\n'
    r = lb("get", "svc", "-n", "elsewhere", "-f", seed / "clusterip")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "No resources found in elsewhere namespace.\n"
    r = lb("describe", "svc", "-f", seed / "clusterip")   # namespace default
    assert r.returncode == 0 and r.stderr == "No resources found in default namespace.\n"


def test_allocations_are_stable_between_runs(seed):
    first = lb("get", "svc", "-A", "-f", seed / "loadbalancer", "-f", seed / "nodeport").stdout
    assert first == lb("get", "svc", "-A", "-f", seed / "nodeport", "-f", seed / "loadbalancer").stdout
    assert "10." in first and ":3" in first


# --- golden outputs ----------------------------------------------------------------

GOLDEN_CASES = [
    ("get_svc_clusterip.txt", ["get", "service", "-n", "study", "-f", "clusterip"]),
    ("get_svc_wide_nodeport.txt", ["get", "svc", "-n", "study", "-o", "wide", "-f", "nodeport"]),
    ("get_svc_headless.txt", ["get", "svc", "-n", "study", "-f", "headless"]),
    ("get_svc_externalname.txt", ["get", "svc", "-n", "study", "-f", "externalname"]),
    ("get_svc_loadbalancer.txt", ["get", "svc", "-n", "study", "-f", "loadbalancer"]),
    ("get_svc_all_kube_system.txt", ["get", "svc", "-A", "-f", "kube-system"]),
    ("get_ep_clusterip.txt", ["get", "endpoints", "-n", "study", "-o", "wide", "-f", "clusterip"]),
    ("get_ep_all_kube_system.txt", ["get", "ep", "-A", "-f", "kube-system"]),
    ("get_endpointslices_kube_system.txt", ["get", "endpointslices", "-n", "kube-system", "-f", "kube-system"]),
    ("get_pods_wide_clusterip.txt", ["get", "po", "-n", "study", "-o", "wide", "-f", "clusterip"]),
    ("describe_svc_clusterip.txt", ["describe", "service", "-n", "study", "service-clusterip", "-f", "clusterip"]),
    ("describe_svc_headless.txt", ["describe", "svc", "service-headliness", "-n", "study", "-f", "headless"]),
    ("describe_svc_affinity.txt", ["describe", "svc", "-n", "study", "-f", "affinity"]),
    ("describe_svc_nodeport.txt", ["describe", "svc", "-n", "study", "-f", "nodeport"]),
    ("describe_svc_externalname.txt", ["describe", "svc", "-n", "study", "-f", "externalname"]),
    ("describe_svc_loadbalancer.txt", ["describe", "svc", "-n", "study", "-f", "loadbalancer"]),
    ("describe_svc_all_kube_system.txt", ["describe", "svc", "-A", "-f", "kube-system"]),
    ("get_svc_yaml_nodeport.txt", ["get", "svc", "service-nodeport", "-n", "study", "-o", "yaml", "-f", "nodeport"]),
]


@pytest.mark.parametrize("golden, argv", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_output(seed, golden, argv):
    argv = [str(seed / a) if i and argv[i - 1] == "-f" else a for i, a in enumerate(argv)]
    r = lb(*argv)
    assert r.returncode == 0, r.stderr
    check_golden(golden, r.stdout)


def test_describe_matches_the_seed_blog(seed):
    # the blog's `kubectl describe service -n study service-clusterip`, whitespace restored,
    # plus the Internal Traffic Policy line kubectl prints since the field exists (the API
    # server defaults it to Cluster; the blog's kubectl predates it)
    r = lb("describe", "service", "-n", "study", "service-clusterip", "-f", seed / "clusterip")
    assert r.stdout == textwrap.dedent("""\
        Name:                     service-clusterip
        Namespace:                study
        Labels:                   <none>
        Annotations:              <none>
        Selector:                 app=nginx-pod
        Type:                     ClusterIP
        IP Family Policy:         SingleStack
        IP Families:              IPv4
        IP:                       10.97.97.97
        IPs:                      10.97.97.97
        Port:                     <unset>  80/TCP
        TargetPort:               80/TCP
        Endpoints:                10.244.104.10:80,10.244.166.129:80,10.244.166.191:80
        Session Affinity:         None
        Internal Traffic Policy:  Cluster
        Events:                   <none>
        """)


def test_identical_copies_merge_and_conflicting_definitions_are_reported():
    # the seed folders share copies of the pods and namespace; clusterip and affinity
    # define service-clusterip differently
    r = lb("validate", "-f", "configs/seed")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        'configs/seed/clusterip/service.yaml:4: Service "study/service-clusterip" is invalid: metadata.name: '
        'Duplicate value: "service-clusterip": already defined at configs/seed/affinity/service.yaml:6']


# --- standard input and URLs -------------------------------------------------------

def test_stdin_is_read_by_every_command_that_reads_manifests(seed):
    # kubectl create ... --dry-run=client -o yaml | lb validate -f -
    text = (seed / "clusterip" / "service.yaml").read_text()
    r = lb("validate", "-f", "-", stdin=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "STDIN: 1 object, 0 errors, 1 warning"   # its Pods are elsewhere
    r = lb("get", "svc", "-n", "study", "-f", "-", stdin=text)
    assert r.returncode == 0 and r.stdout.splitlines()[1].split()[:3] == ["service-clusterip", "ClusterIP",
                                                                          "10.97.97.97"], r.stderr
    r = lb("describe", "svc", "service-clusterip", "-n", "study", "-f", "-", "-f", seed / "clusterip" / "pods.yaml",
           stdin=text)
    assert r.returncode == 0 and "10.244.104.10:80,10.244.166.129:80" in r.stdout, r.stderr
    r = lb("render", "--mode", "iptables", "-f", "-", stdin=text)
    assert r.returncode == 0 and "-d 10.97.97.97 --dport 80 -j REJECT" in r.stdout, r.stderr


def test_stdin_diagnostics_name_it_stdin_as_kubectl_does():
    r = lb("validate", "-f", "-", stdin=textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: a, namespace: study}
        spec:
          ports:
          - {port: 80, nodePort: 40000}
          type: NodePort
        """))
    assert r.returncode == 1
    assert r.stderr.startswith('STDIN:6: Service "study/a" is invalid: spec.ports[0].nodePort'), r.stderr
    r = lb("validate", "-f", "-", stdin="kind: [\n")
    assert r.returncode == 1 and r.stderr.startswith("STDIN:"), r.stderr


def test_urls_are_refused_with_the_reason_and_the_way_round_it():
    for command in (["validate"], ["get", "svc"], ["run"]):
        r = lb(*command, "-f", "https://example.com/services.yaml")
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "not URLs" in r.stderr and "curl -fsSL URL | lb validate -f -" in r.stderr


# --- a selector that finds no Pod ---------------------------------------------------

WORKLOAD = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: study}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: nginx}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: study}
    spec:
      selector:
        app: web
      ports: [{port: 80}]
    """
NO_POD_HINT = ('web.yaml:15: Warning: Service "study/web" selects no Pod (selector app=web), so it has no '
               "backends: lb does not run workloads (Deployments, StatefulSets and other controllers are "
               "skipped); add Pods with status.podIP, or Endpoints or an EndpointSlice that list the backends")


def test_service_whose_pods_a_deployment_would_make_gets_a_warning_not_an_error(tmp_path):
    write(tmp_path, "web.yaml", WORKLOAD)
    r = lb("validate", "-f", "web.yaml", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == NO_POD_HINT + "\n", r.stderr
    assert r.stdout.splitlines()[-1] == "web.yaml: 1 object, 0 errors, 1 warning"
    for argv in (["get", "svc"], ["get", "ep", "web"], ["describe", "svc", "web"]):
        r = lb(*argv, "-n", "study", "-f", "web.yaml", cwd=tmp_path)
        assert r.returncode == 0 and r.stderr == NO_POD_HINT + "\n", (argv, r.stderr)
    # other namespaces' listings stay quiet
    r = lb("get", "svc", "-n", "elsewhere", "-f", "web.yaml", cwd=tmp_path)
    assert r.stderr == "No resources found in elsewhere namespace.\n"


def test_pods_without_ip_are_named_and_pods_with_ip_or_endpoints_silence_the_warning(tmp_path):
    pod = """\
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-1, namespace: study, labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
        status: {phase: Pending}
        """
    write(tmp_path, "web.yaml", textwrap.dedent(WORKLOAD) + textwrap.dedent(pod))
    r = lb("validate", "-f", "web.yaml", cwd=tmp_path)
    assert 'Service "study/web" selects 1 Pod, none with status.podIP (selector app=web)' in r.stderr
    write(tmp_path, "web.yaml", textwrap.dedent(WORKLOAD) + textwrap.dedent(pod).replace("phase: Pending", "phase: Running, podIP: 10.0.0.5"))
    assert lb("validate", "-f", "web.yaml", cwd=tmp_path).stderr == ""
    endpoints = """\
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web, namespace: study}
        subsets: [{addresses: [{ip: 10.0.0.6}], ports: [{port: 80}]}]
        """
    write(tmp_path, "web.yaml", textwrap.dedent(WORKLOAD) + textwrap.dedent(endpoints))
    assert lb("validate", "-f", "web.yaml", cwd=tmp_path).stderr == ""
