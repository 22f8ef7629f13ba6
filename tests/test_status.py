"""`lb status` prints the running table in ipvsadm's layouts with real counts."""
from __future__ import annotations

import json
import subprocess
import threading

from conftest import free_port, random_loopback_net, service_yaml, wait_for

LIST_HEAD = ("Prot LocalAddress:Port Scheduler Flags\n"
             "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")


def serve(backends, lb, manifest, affinity=False):
    b = backends(3)
    ip = f"{random_loopback_net()}.97"
    port = free_port(ip)
    proc = lb([manifest(service_yaml("web", ip, port, b, affinity=affinity))]).wait_ready()
    return b, ip, port, proc


def test_status_lists_virtual_and_real_servers_like_ipvsadm(backends, lb, manifest, curl, lb_cli):
    b, ip, port, proc = serve(backends, lb, manifest, affinity=True)
    for _ in range(6):
        curl(f"http://{ip}:{port}/")
    wait_for(lambda: proc.status()["active_connections"] == 0, 5, "connections to close")
    done = lb_cli("status", "--metrics-bind-address", f"127.0.0.1:{proc.metrics_port}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines(keepends=True)
    assert lines[0].startswith("lb ") and "(ipvsadm -Ln layout)" in lines[0]
    assert "".join(lines[1:3]) == LIST_HEAD
    assert lines[3] == f"TCP  {ip}:{port} rr persistent 10800\n"
    reals = lines[4:]
    assert len(reals) == 3
    for line, real_ip in zip(reals, b.ips):
        # ipvsadm's "  -> %-28s %-7s %-6d %-10u %-10u\n"
        assert line == f"  -> {real_ip + ':' + str(b.port):<28} {'Masq':<7} {1:<6d} {0:<10d} {0:<10d}\n"


def test_status_stats_counts_connections_and_bytes(backends, lb, manifest, curl, lb_cli):
    b, ip, port, proc = serve(backends, lb, manifest)
    for _ in range(6):
        curl(f"http://{ip}:{port}/")
    wait_for(lambda: proc.status()["active_connections"] == 0, 5, "connections to close")
    done = lb_cli("status", "--stats", "--metrics-bind-address", f"127.0.0.1:{proc.metrics_port}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "no InPkts/OutPkts" in lines[0]
    assert lines[1].split() == ["Prot", "LocalAddress:Port", "Conns", "InBytes", "OutBytes"]
    assert lines[2] == "  -> RemoteAddress:Port"
    assert lines[3].startswith(f"TCP  {ip}:{port}")
    conns, inbytes, outbytes = (int(x) for x in lines[3][33:].split())
    assert conns == 6 and inbytes > 0 and outbytes > 0
    for line in lines[4:7]:
        assert line.startswith("  -> ") and int(line[33:].split()[0]) == 2


def test_status_connections_list_shows_a_live_connection(backends, lb, manifest, lb_cli):
    b, ip, port, proc = serve(backends, lb, manifest)
    t = threading.Thread(target=lambda: subprocess.run(
        ["curl", "-sS", "--max-time", "8", f"http://{ip}:{port}/hold/2"], capture_output=True, timeout=15))
    t.start()
    try:
        wait_for(lambda: proc.status()["active_connections"] >= 1, 5, "a live connection")
        done = lb_cli("status", "-c", "--metrics-bind-address", f"127.0.0.1:{proc.metrics_port}")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[1].split() == ["pro", "expire", "state", "source", "virtual", "destination"]
        row = lines[2].split()
        assert row[0] == "TCP" and row[2] in ("ESTABLISHED", "SYN_SENT")
        assert row[3].startswith("127.") and row[4] == f"{ip}:{port}"
        assert row[5] in {f"{a}:{b.port}" for a in b.ips}
    finally:
        t.join(15)


def test_status_without_instance_says_how_to_start_one(lb_cli):
    port = free_port()
    done = lb_cli("status", "--metrics-bind-address", f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr.strip() == (f"lb status: no lb instance answers at 127.0.0.1:{port} "
                                   "(start one with lb run -f ...)")


def test_metrics_and_healthz(backends, lb, manifest, curl):
    b, ip, port, proc = serve(backends, lb, manifest)
    curl(f"http://{ip}:{port}/")
    metrics = proc.get("/metrics").decode()
    assert 'lb_service_port_connections_total{service="study/web",port="http",protocol="TCP"} 1' in metrics
    assert "# TYPE lb_endpoint_active_connections gauge" in metrics
    assert "lb_reloads_total 1" in metrics
    health = json.loads(proc.get("/healthz"))
    assert health["status"] == "ok" and health["last_reload_time"] > 0
