"""The benchmark harness: its namespaces come and go without leftovers, and one tiny
bounded load run through HAProxy reaches the backends with no SYN retransmitted."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lb.bench import topology, workloads
from lb.bench.peers import Backends, HaproxyPeer

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nginx", "haproxy", "wrk", "iperf3")),
    reason="needs root, iproute2, nginx, haproxy, wrk and iperf3")


@pytest.fixture
def topo():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    workdir = Path(tempfile.mkdtemp(prefix="lbbench-test-"))
    t = topology.Topology(workdir)
    try:
        t.up()
        yield t
    finally:
        t.down()
        shutil.rmtree(workdir, ignore_errors=True)


def _ours(t):
    return [ns for ns in topology.list_namespaces() if ns.endswith(f"-{t.tag}")]


@needs_root
def test_topology_creates_five_namespaces_and_down_removes_them_and_their_processes(topo):
    assert sorted(_ours(topo)) == sorted(topo.ns(r) for r in topology.ROLES)
    server = topo.spawn("b3", [topology.PYTHON, "-m", "http.server", "--bind", topology.BACKEND_IPS[2], "8080"])
    assert topo.wait_tcp(topology.BACKEND_IPS[2], 8080, timeout=10)   # client -> lb (router) -> b3
    topo.down()
    assert _ours(topo) == []
    assert server.poll() is not None


@needs_root
def test_one_second_of_wrk_through_haproxy_is_served_without_syn_retransmits(topo):
    Backends(topo).start()
    peer = HaproxyPeer(topo, workers=1)
    peer.start()
    try:
        res = workloads.run_wrk(topo, peer, duration=1, close=True, connections=8)
    finally:
        peer.stop()
    assert res["rps"] > 100, res
    assert res["socket_errors"] == 0 and res["non_2xx"] == 0, res
    assert res["syn_retrans"] == 0, res


def test_parse_wrk_reads_rate_and_latency_percentiles():
    out = ("  Latency Distribution\n     50%  512.00us\n     75%    1.00ms\n     90%    2.00ms\n"
           "     99%    1.20s \n  1000 requests in 1.00s, 100.00KB read\n"
           "  Socket errors: connect 1, read 2, write 0, timeout 0\nRequests/sec:   1000.50\n")
    assert workloads.parse_wrk(out) == {"rps": 1000.5, "p50_ms": 0.512, "p99_ms": 1200.0,
                                        "socket_errors": 3, "non_2xx": 0}


def test_bench_refuses_to_run_without_root_and_says_why(monkeypatch, capsys):
    import lb.bench
    monkeypatch.setattr(lb.bench.os, "geteuid", lambda: 1000)
    assert lb.bench.main(["--rounds", "1"]) == 1
    assert "must run as root" in capsys.readouterr().err
