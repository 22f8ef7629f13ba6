"""`lb run` forwards ExternalName Services with ports: an address allocated from the service
range (and spec.externalIPs) listens, connections go to every address the name has, at
targetPort. Names come from a hosts file the test writes or a DNS server the test runs on
127.0.0.0/8; never the machine's resolver."""
from __future__ import annotations

import json
import socket

import pytest

from conftest import free_port, random_loopback_net, run_curl, run_lb, wait_for
from dns_harness import FakeDns


RANGE = "127.20.0.0/16"      # what the lb fixture runs with in the host namespace


def external_name(name: str, target: str, port: int, target_port: int, external_ips: tuple[str, ...] = ()) -> str:
    extra = "".join(f"  - {ip}\n" for ip in external_ips)
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: study\nspec:\n"
            f"  type: ExternalName\n  externalName: {target}\n"
            + (f"  externalIPs:\n{extra}" if extra else "")
            + f"  ports:\n  - port: {port}\n    targetPort: {target_port}\n")


@pytest.fixture
def dns_server():
    server = FakeDns(f"{random_loopback_net()}.53")
    yield server
    server.close()


def forward_vs(proc, service: str = "study/db") -> dict:
    return next(vs for vs in proc.status()["virtual_servers"] if vs["service"] == service and vs["kind"] == "clusterIP")


def wait_vs(proc, what: str, predicate, service: str = "study/db", timeout: float = 10) -> dict:
    """The forward virtual server once predicate(vs) holds."""
    def ready():
        vs = forward_vs(proc, service)
        return vs if predicate(vs) else None
    try:
        return wait_for(ready, timeout, what)
    except AssertionError as e:
        raise AssertionError(f"{e}: {forward_vs(proc, service)}\n{proc.log}") from None


def answers(url: str, count: int) -> set[str]:
    return {run_curl(url) for _ in range(count)}


def test_a_name_from_the_hosts_file_forwards_to_every_address(tmp_path, backends, lb, manifest):
    pods = backends(2)
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{pods.ips[0]} db.internal.test\n{pods.ips[1]} db.internal.test\n")
    path = manifest(external_name("db", "db.internal.test", 5432, pods.port))
    proc = lb([path], extra=["--hosts-file", str(hosts), "--resolver", "127.0.0.1:9"]).wait_ready()
    vs = wait_vs(proc, "two endpoints", lambda v: len(v["real_servers"]) == 2)
    assert vs["address"].startswith("127.20.") and vs["serving"]
    assert sorted(r["address"] for r in vs["real_servers"]) == sorted(pods.ips)
    assert answers(f"http://{vs['address']}:5432/", 4) == {pods.answer(0), pods.answer(1)}
    # get -o wide and describe show lb's address for it, describe the addresses it forwards to
    wide = run_lb("get", "svc", "-n", "study", "-o", "wide", "--service-cluster-ip-range", RANGE, "-f", str(path))
    assert wide.returncode == 0 and vs["address"] in wide.stdout and "db.internal.test" in wide.stdout
    page = run_lb("describe", "svc", "db", "-n", "study", "--hosts-file", str(hosts), "--service-cluster-ip-range", RANGE,
                  "--resolver", "127.0.0.1:9", "-f", str(path)).stdout
    assert f"IP:                {vs['address']}" in page
    assert f"Endpoints:         {pods.ips[0]}:{pods.port},{pods.ips[1]}:{pods.port}" in page
    assert page.rstrip().endswith("Events:            <none>")


def test_a_name_from_a_dns_server_follows_its_answers_and_survives_an_outage(backends, lb, manifest, dns_server):
    pods = backends(3)
    dns_server.set("api.example.test", "A", 1, pods.ips[0], pods.ips[1])
    path = manifest(external_name("db", "api.example.test.", 8080, pods.port))
    proc = lb([path], extra=["--resolver", dns_server.where, "--hosts-file", "/dev/null"]).wait_ready()
    vs = wait_vs(proc, "two endpoints", lambda v: len(v["real_servers"]) == 2)
    url = f"http://{vs['address']}:8080/"
    assert answers(url, 4) == {pods.answer(0), pods.answer(1)}
    # a held connection survives the answer changing (the change is a table publish)
    held = socket.create_connection((vs["address"], 8080), timeout=5)
    dns_server.set("api.example.test", "A", 1, pods.ips[2])       # TTL 1 s, clamped to 5 s
    # the old endpoints leave rotation (weight 0); one keeps the held connection until it ends
    wait_vs(proc, "the new answer", lambda v: [r["address"] for r in v["real_servers"] if r["weight"]]
            == [pods.ips[2]], timeout=15)
    assert answers(url, 3) == {pods.answer(2)}
    held.sendall(f"GET / HTTP/1.0\r\nHost: {vs['address']}\r\n\r\n".encode())
    assert b"200 OK" in held.recv(4096)
    held.close()
    # the server goes quiet: the last good answer stays, logged and still served
    dns_server.down.set()
    proc.wait_log("event=externalname_refresh_failed", timeout=20)
    assert answers(url, 2) == {pods.answer(2)}
    names = proc.status()["external_names"]
    assert names["refresh_failures"] >= 1
    assert names["names"]["api.example.test"]["addresses"] == [pods.ips[2]]
    assert json.loads(proc.get("/healthz"))["status"] == "ok"


def test_a_name_that_never_resolves_resets_and_says_so(tmp_path, lb, manifest, dns_server):
    path = manifest(external_name("db", "missing.example.test", 6379, 6379))
    proc = lb([path], extra=["--resolver", dns_server.where, "--hosts-file", "/dev/null"])
    proc.wait_log("event=externalname_unresolved")
    wait_for(lambda: "NXDOMAIN" in (forward_vs(proc)["error"] or ""), 10, "an error in /status")
    vs = forward_vs(proc)
    assert not vs["serving"] and vs["real_servers"] == []
    with pytest.raises(ConnectionResetError):     # at connect, or at the first read
        with socket.create_connection((vs["address"], 6379), timeout=5) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16):
                raise AssertionError("closed without a reset")
    status = run_lb("status", "--metrics-bind-address", f"127.0.0.1:{proc.metrics_port}")
    assert "missing.example.test" in status.stdout + status.stderr
    page = run_lb("describe", "svc", "db", "-n", "study", "--resolver", dns_server.where,
                  "--hosts-file", "/dev/null", "-f", str(path)).stdout
    assert "  Warning  FailedToResolve  <unknown>  lb    externalName" in page and "missing.example.test: NXDOMAIN" in page


def test_an_ip_literal_and_external_ips(backends, lb, manifest):
    pods = backends(1)
    net = random_loopback_net()
    external = f"{net}.7"
    port = free_port(external)
    path = manifest(external_name("literal", pods.ips[0], port, pods.port, external_ips=(external,)))
    proc = lb([path], extra=["--hosts-file", "/dev/null", "--resolver", "127.0.0.1:9"]).wait_ready()
    vs = wait_vs(proc, "its endpoint", lambda v: v["real_servers"], service="study/literal")
    assert run_curl(f"http://{vs['address']}:{port}/") == pods.answer(0)
    assert run_curl(f"http://{external}:{port}/") == pods.answer(0)


def test_without_ports_it_is_dns_only(lb, manifest):
    path = manifest("apiVersion: v1\nkind: Service\nmetadata:\n  name: alias\n  namespace: study\nspec:\n"
                    "  type: ExternalName\n  externalName: db.internal.test\n")
    proc = lb([path], extra=["--hosts-file", "/dev/null", "--resolver", "127.0.0.1:9"])
    proc.wait_log("event=not_served")
    assert "nothing to forward" in proc.log
    wide = run_lb("get", "svc", "-n", "study", "-f", str(path)).stdout
    assert "<none>" in wide.splitlines()[1]      # no address: kubectl's CLUSTER-IP <none>
