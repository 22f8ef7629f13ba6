"""The benchmark harness: it reads the user's manifests with lb's loader, builds its
namespaces from them and removes them (and leftovers of a killed run), every mode
serves real traffic, and `lb bench --quick` runs end to end so the harness cannot rot."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lb.bench import manifests, report, scale, topology, workloads
from lb.bench.backends import Backends, identity
from lb.bench.modes import MODES
from lb.bench.probe import ClientProbe
from lb.bench.runner import Results
from lb.bench.workloads import Options, RunContext
from lb.config.loader import load_paths
from lb.snapshot.build import build_snapshot

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "configs" / "seed"
TOOLS = ("ip", "nginx", "haproxy", "wrk", "iperf3", "iptables-restore", "nft")
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS),
                                reason="needs root and " + ", ".join(TOOLS))


def _ours(pid: int) -> list[str]:
    return [ns for ns in topology.list_namespaces() if ns.startswith(f"{topology.PREFIX}-{pid}-")]


# -- no root needed ---------------------------------------------------------------------------
def test_parse_wrk_reads_rate_and_latency_percentiles():
    out = ("  Latency Distribution\n     50%  512.00us\n     75%    1.00ms\n     90%    2.00ms\n"
           "     99%    1.20s \n  1000 requests in 1.00s, 100.00KB read\n"
           "  Socket errors: connect 1, read 2, write 0, timeout 0\nRequests/sec:   1000.50\n")
    assert workloads.parse_wrk(out) == {"rps": 1000.5, "p50_ms": 0.512, "p99_ms": 1200.0,
                                        "socket_errors": 3, "non_2xx": 0}


def test_bench_refuses_to_run_without_root_and_says_why(monkeypatch, capsys):
    import lb.bench
    monkeypatch.setattr(lb.bench.os, "geteuid", lambda: 1000)
    assert lb.bench.main(["--repeat", "1"]) == 1
    assert "must run as root" in capsys.readouterr().err


def test_seed_manifests_give_the_workloads_their_services_and_say_why_the_rest_are_skipped():
    services = manifests.load_bench_services([str(SEED)])
    assert services.http.name == "study/service-clusterip" and services.http.ip == "10.97.97.97"
    assert sorted(ip for ip, _ in services.http.endpoints) == ["10.244.104.10", "10.244.166.129", "10.244.166.191"]
    assert services.bulk.name == "default/kubernetes:https"    # one endpoint: iperf3's connections meet
    why = dict(services.skipped)
    assert why["study/service-headliness"].startswith("headless")
    assert why["study/service-externalname"].startswith("ExternalName")
    assert why["kube-system/kube-dns:dns"].startswith("UDP")
    assert why["study/service-nodeport"] == "the same endpoints as the HTTP target study/service-clusterip"
    assert set(services.endpoint_ips) == {"10.244.104.10", "10.244.166.129", "10.244.166.191", "192.168.100.53"}


def test_loopback_services_are_skipped_and_leave_no_workload_a_target():
    services = manifests.load_bench_services([str(REPO / "configs" / "demo")])
    assert services.http is None and services.bulk is None
    assert "loopback" in dict(services.skipped)["study/service-clusterip"]


def test_link_addresses_avoid_every_address_the_manifests_use():
    assert topology.choose_addressing(set()).client_ip == "10.0.0.2"
    taken = topology.choose_addressing({"10.0.0.1"})
    assert {taken.client_ip, taken.lb_ip, taken.router_ip}.isdisjoint({"10.0.0.1"})


def test_generated_services_load_with_lbs_loader_and_only_the_last_endpoint_moves(tmp_path):
    eps = [("10.1.0.11", 80), ("10.1.0.12", 8080)]
    for moved in (False, True):
        path = tmp_path / f"s{moved}.yaml"
        path.write_text(scale.service_manifests(["10.200.0.1", "10.200.0.2", "10.200.0.3"], eps, moved=moved))
        snap = build_snapshot(load_paths([str(path)]))
        assert not snap.errors
        got = [(v.cluster_ip, [(e.ip, e.port) for e in v.usable]) for v in snap.service_ports()]
        last = eps[1] if moved else eps[0]       # Service i gets eps[i % 2]; moved: the next one
        assert got == [("10.200.0.1", [eps[0]]), ("10.200.0.2", [eps[1]]), ("10.200.0.3", [last])]


def test_report_shows_median_min_max_and_ratios_to_direct_and_iptables():
    results = Results(modes=["lb", "iptables", "direct"], workloads=["cps"])
    for mode, rates in (("lb", [90, 100, 120]), ("iptables", [200, 200, 200]), ("direct", [400, 380, 420])):
        for r in rates:
            results.add(mode, "cps", {"rps": r, "p50_ms": 1.0, "p99_ms": 2.0})
    summary = report.summarize(results.runs)
    assert summary["lb"]["cps"]["rps"] == {"median": 100, "min": 90, "max": 120, "n": 3}
    text = "\n".join(report.workload_section("cps", "cps", workloads.LOAD_WORKLOADS["cps"].metrics,
                                             results.modes, results.runs, summary))
    assert "| lb | 100 (90–120) |" in text
    assert "| lb | 0.25× | 0.50× |" in text      # new connections/s over direct, over iptables


def test_percentile_is_nearest_rank():
    assert scale.percentile(list(range(1, 101)), 50) == 50
    assert scale.percentile(list(range(1, 101)), 99) == 99
    assert scale.percentile([], 99) is None


# -- root: namespaces, modes, the quick run -------------------------------------------------
@pytest.fixture(scope="module")
def bed():
    """The bench's own manifests brought up once: topology, backends, the client agent."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS):
        pytest.skip("needs root and " + ", ".join(TOOLS))
    services = manifests.load_bench_services([str(manifests.DEFAULT_MANIFESTS)])
    workdir = topology.make_workdir()
    topo = topology.Topology(workdir, services.endpoint_ips, services.addresses())
    try:
        topo.up()
        Backends(topo, services.servers).start()
        (workdir / "lb-scale").mkdir()
        yield topo, services, ClientProbe(topo)
    finally:
        topo.down()
        shutil.rmtree(workdir, ignore_errors=True)


@needs_root
@pytest.mark.parametrize("mode_name", ["haproxy", "nginx", "nftables", "direct"])
def test_one_second_of_new_connections_through_each_other_mode_is_served_without_errors(bed, mode_name):
    topo, services, probe = bed
    mode = MODES[mode_name](topo, services, probe, 1, topo.workdir / "lb-scale")
    assert MODES[mode_name].unavailable(topo) is None
    mode.start()
    try:
        res = workloads.run_wrk(RunContext(topo, mode, probe, services.http, Options(duration=1, wrk_connections=8),
                                           services), close=True)
    finally:
        mode.stop()
    assert res["rps"] > 100, res
    assert res["socket_errors"] == 0 and res["non_2xx"] == 0, res
    assert res["syn_retrans"] == 0, res


@needs_root
@pytest.mark.parametrize("mode_name", ["iptables", "nftables"])
def test_a_partial_sync_leaves_the_same_rules_as_loading_the_new_ruleset_whole(tmp_path, mode_name):
    from lb.render import render
    snaps = []
    for moved in (False, True):
        path = tmp_path / f"scale-{moved}.yaml"
        path.write_text(scale.service_manifests([f"10.200.0.{i}" for i in range(1, 21)],
                                                [("10.1.0.11", 80), ("10.1.0.12", 80)], moved=moved))
        snaps.append(build_snapshot(load_paths([str(manifests.DEFAULT_MANIFESTS), str(path)])))
    old, new = (render(s, mode_name) for s in snaps)
    mode = MODES[mode_name]
    change = mode.change(old, new)
    assert 0 < len(change.splitlines()) < 12          # one Service's chains, not the ruleset
    dump = ["iptables-save"] if mode_name == "iptables" else ["nft", "list", "ruleset"]
    ns = f"{topology.PREFIX}-{os.getpid()}-0-rules"

    def run(argv, text=None):
        r = subprocess.run(["ip", "netns", "exec", ns, *argv], input=text, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        return sorted(line for line in r.stdout.splitlines() if not line.startswith("#"))

    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        run(list(mode.loader), old)
        run(list(mode.change_loader), change)
        partial = run(dump)
        run(list(mode.loader), new)
        assert partial == run(dump)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


@needs_root
def test_every_endpoint_answers_with_its_own_identity_through_the_lb_namespace(bed):
    topo, services, probe = bed
    for ip, port in services.http.endpoints:
        assert probe.until(ip, port, timeout=5, expect=identity(ip, port))["ok"]


@needs_root
def test_ipvs_is_skipped_with_the_reason_where_the_kernel_lacks_it(bed):
    topo, _, _ = bed
    from lb.kernel import ipvs_available
    why = MODES["ipvs"].unavailable(topo)
    if not ipvs_available():
        assert why and ("IPVS" in why or "not installed" in why)


@needs_root
def test_seed_addresses_live_on_their_own_hosts_and_down_removes_namespaces_and_processes():
    services = manifests.load_bench_services([str(SEED / "clusterip")])
    workdir = topology.make_workdir()
    topo = topology.Topology(workdir, services.endpoint_ips, services.addresses())
    try:
        topo.up()
        assert sorted(ns for ns in _ours(os.getpid()) if topo.tag in ns) == sorted(topo.ns(r) for r in topo.roles)
        assert len(topo.hosts) == 3
        Backends(topo, services.servers).start()
        probe = ClientProbe(topo)
        ip, port = services.http.first_endpoint         # 10.244.x.x, client -> lb node -> host
        assert probe.until(ip, port, timeout=10, expect=identity(ip, port))["ok"]
        procs = list(topo.procs)
    finally:
        topo.down()
        shutil.rmtree(workdir, ignore_errors=True)
    assert not [ns for ns in _ours(os.getpid()) if topo.tag in ns]
    assert all(p.poll() is not None for p in procs)


def _start_harness(tmp_path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lb.bench", "--quick", "--out", str(tmp_path / "out"), *args],
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_namespaces(pid: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(ns.endswith("-lb") for ns in _ours(pid)):
            return _ours(pid)
        time.sleep(0.2)
    return []


@needs_root
def test_a_sigkilled_run_leaves_namespaces_that_the_next_run_removes(tmp_path):
    harness = _start_harness(tmp_path, "--workloads", "cps")
    try:
        assert _wait_for_namespaces(harness.pid)
        time.sleep(1.0)      # processes inside the namespaces
    finally:
        harness.kill()
        harness.wait(10)
    left = _ours(harness.pid)
    assert left
    assert topology.cleanup_leftovers(log=lambda _msg: None) >= len(left)
    assert _ours(harness.pid) == []
    assert not list(Path("/tmp").glob(f"{topology.PREFIX}-{harness.pid}-*"))


@needs_root
def test_ctrl_c_stops_the_run_and_removes_everything(tmp_path):
    harness = _start_harness(tmp_path, "--workloads", "cps,keepalive")
    try:
        assert _wait_for_namespaces(harness.pid)
        time.sleep(2.0)
        harness.send_signal(signal.SIGINT)
        harness.wait(60)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 130
    assert _ours(harness.pid) == []


@needs_root
def test_quick_bench_measures_every_workload_for_lb_and_iptables_and_leaves_nothing_behind(tmp_path):
    import lb.bench
    out = tmp_path / "out"
    t0 = time.monotonic()
    harness = _start_harness(tmp_path)
    try:
        output, _ = harness.communicate(timeout=120)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 0, output[-3000:]
    assert time.monotonic() - t0 < 90, output[-3000:]      # ~30 s; the rest is room for a busy CI machine
    runs = json.loads((out / "runs.json").read_text())
    assert runs["meta"]["modes"] == ["lb", "iptables"]
    summary = runs["summary"]
    for mode in ("lb", "iptables"):
        for wl, field in (("bulk1", "gbps"), ("bulkN", "gbps"), ("cps", "rps"), ("keepalive", "rps"),
                          ("idle", "bytes_per_conn"), ("scale", "program_s@100"), ("scale", "last_p99_ms@100"),
                          ("scale", "change_s@100")):
            assert field in summary[mode][wl], (mode, wl, runs["runs"][mode][wl])
        assert summary[mode]["cps"]["syn_retrans"]["max"] == 0
    assert "lb_cpu_s" in summary["lb"]["cps"] and "softirq_s" in summary["iptables"]["cps"]
    text = (out / "report.md").read_text()
    assert "/ iptables" in text and "progress" in output and "eta=" in output
    assert {p.name for p in out.glob("*.png")} == {f"{w}.png" for w in lb.bench.WORKLOAD_NAMES}
    assert _ours(harness.pid) == []
    assert not list(Path("/tmp").glob(f"{topology.PREFIX}-{harness.pid}-*"))
