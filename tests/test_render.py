"""`lb render`: kube-proxy's rules for hand-built Snapshots, compared with golden files,
checked against kube-proxy's own chain names, and loaded into a real kernel (inside a
network namespace this test creates and always deletes).

Regenerate the golden files after an intended change: LB_UPDATE_GOLDEN=1 pytest tests/test_render.py
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lb.config.model import ServicePort, Service
from lb.render import render, render_iptables, render_ipvs, render_nftables
from lb.render import naming
from lb.config.model import Endpoint
from lb.snapshot import ResolvedPort, ServiceView, Snapshot

GOLDEN = Path(__file__).parent / "golden"
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
UPDATE = bool(os.environ.get("LB_UPDATE_GOLDEN"))
SEED_PODS = ("10.244.104.10", "10.244.166.129", "10.244.166.191")


# --- snapshot builders ------------------------------------------------------------------

def port(port=80, name="", protocol="TCP", target=None, node_port=None) -> ServicePort:
    return ServicePort(name, protocol, port, target if target is not None else port, node_port)


def service(name, ports, cluster_ip="10.97.97.97", namespace="study", type="ClusterIP", **kw) -> Service:
    ips = kw.pop("cluster_ips", (cluster_ip,) if cluster_ip not in ("", "None") else ())
    family = "IPv6" if ":" in cluster_ip else "IPv4"
    return Service(namespace=namespace, name=name, type=type, ports=tuple(ports), selector={"app": name},
                   cluster_ip=cluster_ip, cluster_ips=ips, ip_families=kw.pop("ip_families", (family,)),
                   ip_family_policy="SingleStack", **kw)


def view(svc: Service, endpoints_by_port: dict | None = None, ips=SEED_PODS, ep_port=None) -> ServiceView:
    """endpoints_by_port: ServicePort name -> [(ip, port, ready)]; default every port gets
    `ips` at its targetPort (ep_port when given)."""
    ports = []
    for sp in svc.ports:
        if endpoints_by_port is not None:
            raw = endpoints_by_port.get(sp.name, [])
        else:
            raw = [(ip, ep_port or sp.target_port, True) for ip in ips]
        eps = tuple(sorted((Endpoint(ip, p, ready=r, serving=r) for ip, p, r in raw),
                           key=lambda e: (e.ip, e.port)))
        ports.append(ResolvedPort(sp, eps, tuple(e for e in eps if e.ready)))
    return ServiceView(svc, tuple(ports))


def snapshot(*views: ServiceView) -> Snapshot:
    return Snapshot(generation=1, services=tuple(sorted(views, key=lambda v: v.service.key)))


SCENARIOS = {
    # the seed: ClusterIP 10.97.97.97:80 -> three nginx pods, round robin
    "clusterip": (snapshot(view(service("service-clusterip", [port(80)]))), ()),
    "affinity": (snapshot(view(service("service-affinity", [port(80)], cluster_ip="10.97.97.98",
                                       session_affinity="ClientIP", affinity_timeout=10800))), ()),
    "nodeport": (snapshot(view(service("service-nodeport", [port(80, node_port=30002)], type="NodePort",
                                       cluster_ip="10.96.40.2"))), ("192.168.1.10",)),
    "loadbalancer": (snapshot(view(service(
        "service-lb", [port(80, name="http", node_port=30080)], type="LoadBalancer", cluster_ip="10.96.50.5",
        load_balancer_ingress=("203.0.113.10",), load_balancer_source_ranges=("198.51.100.0/24",)))), ()),
    "externalips": (snapshot(view(service("service-ext", [port(8080, target=80)], cluster_ip="10.96.60.6",
                                          external_ips=("192.0.2.50",)))), ()),
    "no_endpoints": (snapshot(view(service(
        "service-empty", [port(80, node_port=30090)], type="LoadBalancer", cluster_ip="10.96.70.7",
        external_ips=("192.0.2.70",), load_balancer_ingress=("203.0.113.70",)), ips=())), ()),
    "multiport": (snapshot(view(service(
        "service-multi", [port(80, name="http", target="web"), port(443, name="https", target=8443)],
        cluster_ip="10.96.80.8"), {"http": [(ip, 8080, True) for ip in SEED_PODS[:2]] + [("10.244.9.9", 8080, False)],
                                   "https": [(SEED_PODS[0], 8443, True)]})), ()),
    "udp_sctp": (snapshot(view(service("kube-dns", [port(53, name="dns", protocol="UDP"),
                                                   port(53, name="dns-tcp", protocol="TCP")],
                                       namespace="kube-system", cluster_ip="10.96.0.10"),
                               ips=("10.244.0.2", "10.244.0.3")),
                          view(service("service-sctp", [port(9999, protocol="SCTP")], cluster_ip="10.96.90.9"),
                               ips=("10.244.1.5",))), ()),
    "ipv6": (snapshot(view(service("service-v6", [port(80, node_port=30600)], type="NodePort",
                                   cluster_ip="fd00:10:96::a", session_affinity="ClientIP",
                                   affinity_timeout=600),
                           ips=("fd00:10:244::1", "fd00:10:244::2"))), ("fd00:1::10",)),
}


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from golden (LB_UPDATE_GOLDEN=1 to accept)"


def rendered(name: str) -> dict[str, str]:
    snap, node_ips = SCENARIOS[name]
    family = 6 if name == "ipv6" else 4
    return {
        "ip6tables" if family == 6 else "iptables": render_iptables(snap, family, node_ips),
        "nft": render(snap, "nftables", node_ips),
        "ipvs": render(snap, "ipvs", node_ips),
    }


# --- golden outputs ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_render_matches_golden(name):
    for ext, text in rendered(name).items():
        golden(f"render_{name}.{ext}", text)


def test_seed_clusterip_spreads_with_kube_proxy_probabilities():
    rules = rendered("clusterip")["iptables"]
    svc = naming.iptables_svc_chain("study/service-clusterip", "tcp")
    assert (f'-A KUBE-SERVICES -m comment --comment "study/service-clusterip cluster IP" '
            f"-m tcp -p tcp -d 10.97.97.97 --dport 80 -j {svc}") in rules
    spread = [line for line in rules.splitlines() if line.startswith(f"-A {svc} ")]
    assert [re.search(r"--probability (\S+)", r).group(1) if "statistic" in r else None for r in spread] \
        == ["0.3333333333", "0.5000000000", None]
    for ip in SEED_PODS:
        sep = naming.iptables_sep_chain("study/service-clusterip", "tcp", f"{ip}:80")
        assert f"-A {sep} -m comment --comment study/service-clusterip -s {ip} -j KUBE-MARK-MASQ" in rules
        assert f"-j DNAT --to-destination {ip}:80" in rules


def test_client_ip_affinity_checks_recent_before_random():
    rules = rendered("affinity")["iptables"].splitlines()
    svc = naming.iptables_svc_chain("study/service-affinity", "tcp")
    chain = [r for r in rules if r.startswith(f"-A {svc} ")]
    assert all("--rcheck --seconds 10800 --reap" in r for r in chain[:3])
    assert all("statistic" in r for r in chain[3:5]) and "recent" not in chain[5]
    assert sum("-m recent --name KUBE-SEP-" in r and "--set" in r for r in rules) == 3


def test_no_endpoints_rejects_in_filter_table():
    text = rendered("no_endpoints")
    filt = text["iptables"].split("*nat")[0]
    assert filt.count("-j REJECT") == 4   # clusterIP, externalIP, LB IP, nodePort
    assert "KUBE-SVC-" not in text["iptables"]
    assert 'no-endpoint-nodeports { tcp . 30090 comment "study/service-empty" : goto reject-chain }' in text["nft"]
    assert "-A -t 10.96.70.7:80 -s rr\n" in text["ipvs"] and "-r " not in text["ipvs"]


def test_not_ready_endpoints_are_left_out():
    text = rendered("multiport")
    assert "10.244.9.9" not in text["iptables"] + text["nft"] + text["ipvs"]


def test_headless_and_external_name_are_skipped():
    snap = snapshot(view(service("headless", [port(80)], cluster_ip="None")),
                    view(service("ext", [port(80)], cluster_ip="", type="ExternalName", external_name="a.example")))
    assert "KUBE-SVC-" not in render(snap, "iptables")
    assert "add element" not in render(snap, "nftables")
    assert render(snap, "ipvs") == ""


def test_ipv6_services_only_in_ipv6_rulesets():
    snap, _ = SCENARIOS["ipv6"]
    assert "fd00" not in render_iptables(snap, 4)
    assert "fd00:10:96::a" in render_iptables(snap, 6)
    assert "add element" not in render_nftables(snap, 4)
    node_ips = SCENARIOS["ipv6"][1]
    nft = render(snap, "nftables", node_ips)
    assert nft == render_nftables(snap, 4, node_ips) + render_nftables(snap, 6, node_ips)
    assert "add table ip6 kube-proxy" in nft and "dnat to [fd00:10:244::1]:80" in nft


def test_dual_stack_service_splits_by_family():
    svc = service("service-dual", [port(80)], cluster_ip="10.96.1.1", cluster_ips=("10.96.1.1", "fd00:10:96::1"),
                  ip_families=("IPv4", "IPv6"))
    snap = snapshot(view(svc, ips=("10.244.1.1", "fd00:10:244::1")))
    v4, v6 = render_iptables(snap, 4), render_iptables(snap, 6)
    assert "10.244.1.1:80" in v4 and "fd00" not in v4
    assert "[fd00:10:244::1]:80" in v6 and "10.244.1.1" not in v6
    ipvs = render(snap, "ipvs")
    assert "-a -t 10.96.1.1:80 -r 10.244.1.1:80 -m -w 1" in ipvs
    assert "-a -t [fd00:10:96::1]:80 -r [fd00:10:244::1]:80 -m -w 1" in ipvs
    assert validate_ipvsadm_restore(ipvs) == 2


def test_ipvs_nodeports_need_node_ips():
    warnings: list[str] = []
    snap, _ = SCENARIOS["nodeport"]
    out = render_ipvs(snap, (), warnings=warnings)
    assert ":30002" not in out and "pass --node-ip" in warnings[0]
    assert "-A -t 192.168.1.10:30002 -s rr" in render_ipvs(snap, ("192.168.1.10",))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        render(snapshot(), "userspace")


# --- chain names against kube-proxy's own test data (pkg/proxy/*/proxier_test.go) ---------

@pytest.mark.parametrize("port_name,expected", [
    ("ns1/svc1:p80", "KUBE-SVC-XPGD46QRK7WJZT7O"),
    ("ns2/svc2:p80", "KUBE-SVC-GNZBNJ2PO5MGZ6GT"),
    ("ns4/svc4:p80", "KUBE-SVC-4SW47YFZTEDKD3PK"),
    ("ns5/svc5:p80", "KUBE-SVC-NUKIZ6OKUXPJNT4C"),
    ("ns1/svc1", "KUBE-SVC-AQI2S6QIMU7PVVRP"),
])
def test_iptables_service_chain_names_match_kube_proxy(port_name, expected):
    assert naming.iptables_svc_chain(port_name, "TCP") == expected


def test_iptables_external_and_firewall_chains_share_the_hash():
    assert naming.iptables_ext_chain("ns2/svc2:p80", "tcp") == "KUBE-EXT-GNZBNJ2PO5MGZ6GT"
    assert naming.iptables_fw_chain("ns5/svc5:p80", "tcp") == "KUBE-FW-NUKIZ6OKUXPJNT4C"


@pytest.mark.parametrize("port_name,endpoint,expected", [
    ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
    ("ns4/svc4:p80", "10.180.0.4:80", "KUBE-SEP-UKSFD7AGPMPPLUHC"),
    ("ns4/svc4:p80", "10.180.0.5:80", "KUBE-SEP-C6EBXVWJJZMIWKLZ"),
    ("ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"),
    ("ns1/svc1", "10.0.1.1:80", "KUBE-SEP-3JOIVZTXZZRGORX4"),
])
def test_iptables_endpoint_chain_names_match_kube_proxy(port_name, endpoint, expected):
    assert naming.iptables_sep_chain(port_name, "tcp", endpoint) == expected


def test_nftables_chain_names_match_kube_proxy():
    assert naming.nft_service_base("ns1", "svc1", "tcp", "p80") == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert naming.nft_service_base("ns4", "svc4", "TCP", "p80") == "LAUZTJTB-ns4/svc4/tcp/p80"
    assert naming.nft_endpoint_base("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80) \
        == "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
    assert naming.nft_endpoint_base("ns5", "svc5", "tcp", "p80", "10.180.0.3", 80) \
        == "GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    assert naming.nft_endpoint_base("ns1", "svc1", "tcp", "p80", "fd00:10:180::1", 80) \
        == "ZVRFLKHO-ns1/svc1/tcp/p80__fd00.10.180..1/80"


# --- the real kernel ---------------------------------------------------------------------

_ns_counter = itertools.count()


def _run(*cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)


@pytest.fixture
def netns():
    """A fresh network namespace, deleted even when the test fails."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to create a network namespace")
    name = f"lbtest-render-{os.getpid()}-{next(_ns_counter)}"
    created = _run("ip", "netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {created.stderr.strip()}")
    try:
        yield name
    finally:
        _run("ip", "netns", "delete", name)


def _in_ns(ns: str, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return _run("ip", "netns", "exec", ns, *cmd, stdin=stdin)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{' '.join(proc.args)}: {proc.stderr or proc.stdout}"
    return proc.stdout


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_iptables_rules_load_into_the_kernel(netns, name):
    for ext, text in rendered(name).items():
        if ext not in ("iptables", "ip6tables"):
            continue
        tool = f"{ext}-restore"
        assert shutil.which(tool), f"{tool} not installed (.ci/run installs iptables)"
        _ok(_in_ns(netns, tool, "--test", stdin=text))
        _ok(_in_ns(netns, tool, stdin=text))
        saved = _ok(_in_ns(netns, f"{ext}-save", "-t", "nat"))
        assert "-j KUBE-SERVICES" in saved and "KUBE-MARK-MASQ" in saved


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_nftables_rules_load_into_the_kernel(netns, name):
    assert shutil.which("nft"), "nft not installed (.ci/run installs nftables)"
    text = rendered(name)["nft"]
    _ok(_in_ns(netns, "nft", "-c", "-f", "-", stdin=text))
    _ok(_in_ns(netns, "nft", "-f", "-", stdin=text))
    _ok(_in_ns(netns, "nft", "-f", "-", stdin=text))   # loading twice replaces, not appends
    listed = _ok(_in_ns(netns, "nft", "list", "ruleset"))
    assert "table ip kube-proxy" in listed and "map service-ips" in listed
    assert listed.count("numgen random mod") == text.count("numgen random mod")


# ipvsadm-restore's grammar for what we write: -A/-a, a protocol flag, an address.
_IPVS_ADDR = r"(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})"
_IPVS_SERVICE = rf"(-t|-u|--sctp-service) {_IPVS_ADDR}"
_IPVS_VIRTUAL = re.compile(rf"^-A {_IPVS_SERVICE} -s (rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|mh)( -p \d+)?$")
_IPVS_REAL = re.compile(rf"^-a {_IPVS_SERVICE} -r {_IPVS_ADDR} -m -w \d+$")


def validate_ipvsadm_restore(text: str) -> int:
    """Checks every line parses and every real server follows its virtual server with the
    same family; returns the number of virtual servers."""
    virtual: set[str] = set()
    for line in text.splitlines():
        if m := _IPVS_VIRTUAL.match(line):
            service = f"{m.group(1)} {m.group(2)}:{m.group(3)}"
            assert service not in virtual, f"duplicate virtual server: {line}"
            virtual.add(service)
        elif m := _IPVS_REAL.match(line):
            assert f"{m.group(1)} {m.group(2)}:{m.group(3)}" in virtual, f"real server before its service: {line}"
            assert m.group(2).startswith("[") == m.group(4).startswith("["), f"mixed families: {line}"
        else:
            pytest.fail(f"not ipvsadm-restore syntax: {line!r}")
    return len(virtual)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ipvs_rules_are_ipvsadm_restore_syntax(name):
    assert validate_ipvsadm_restore(rendered(name)["ipvs"]) >= 1


def test_ipvs_rules_load_into_the_kernel_or_its_absence_is_reported(netns):
    """With the ip_vs module, every scenario loads and saves back line for line. Without it
    (this kernel), the real ipvsadm must fail to reach IPVS and `lb render` must say so."""
    from lb.kernel import ipvs_available
    if ipvs_available():
        for name in sorted(SCENARIOS):
            text = rendered(name)["ipvs"]
            _ok(_in_ns(netns, "ipvsadm", "-C"))
            _ok(_in_ns(netns, "ipvsadm", "-R", stdin=text))
            saved = _ok(_in_ns(netns, "ipvsadm", "-S", "-n"))
            assert len(saved.splitlines()) == len(text.splitlines()), name
        return
    probe = _in_ns(netns, "ipvsadm", "-R", stdin=rendered("clusterip")["ipvs"])
    assert probe.returncode != 0, "ipvsadm loaded rules although /proc/net/ip_vs is missing"
    cli = subprocess.run([sys.executable, "-m", "lb", "render", "--mode", "ipvs", "-f", str(CONFIGS / "seed" / "clusterip")],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "-A -t 10.97.97.97:80 -s rr" in cli.stdout
    assert "IPVS not available in this kernel" in cli.stderr


# --- the shipped manifests -------------------------------

def _config_dirs() -> list[Path]:
    return sorted(p for p in (list((CONFIGS / "seed").glob("*")) + [CONFIGS / "demo"]) if p.is_dir())


@pytest.mark.parametrize("folder", _config_dirs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_render_and_load(netns, folder):
    from lb.config.loader import load_paths
    from lb.snapshot.build import build_snapshot
    snap = build_snapshot(load_paths([str(folder)]))
    assert snap.services, f"{folder}: no Service loaded"
    assert not snap.errors, "\n".join(map(str, snap.errors))
    node_ips = ("192.168.1.10",)
    for family in (4, 6):
        text = render_iptables(snap, family, node_ips)
        _ok(_in_ns(netns, "ip6tables-restore" if family == 6 else "iptables-restore", "--test", stdin=text))
    _ok(_in_ns(netns, "nft", "-c", "-f", "-", stdin=render(snap, "nftables", node_ips)))
    validate_ipvsadm_restore(render(snap, "ipvs", node_ips))
    if folder.name == "clusterip":
        rules = render(snap, "iptables")
        assert rules.count("-j DNAT --to-destination 10.244.") == 3 and "-d 10.97.97.97 --dport 80" in rules
