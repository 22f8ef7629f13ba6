"""`lb run` serving real traffic: round robin, ClientIP affinity, node ports, reloads,
UDP reported as not served, SIGTERM draining, and a non-local VIP on lb0 in a netns."""
from __future__ import annotations

import random
import socket
import subprocess
import threading
import time

from conftest import PYTHON, endpoints_yaml, free_port, random_loopback_net, service_yaml, wait_for


def vip() -> tuple[str, int]:
    ip = f"{random_loopback_net()}.97"
    return ip, free_port(ip)


def test_cluster_ip_round_robin_visible_with_curl(backends, lb, manifest, curl):
    b = backends(3)
    ip, port = vip()
    proc = lb([manifest(service_yaml("web", ip, port, b))]).wait_ready()
    answers = [curl(f"http://{ip}:{port}/") for _ in range(6)]
    assert sorted(answers) == sorted([b.answer(i) for i in range(3)] * 2)
    assert answers[:3] == answers[3:], "round robin repeats the same cycle"
    assert "event=listen " in proc.log and f"frontend={ip}:{port}/TCP service=study/web" in proc.log


def test_client_ip_affinity_sticks_to_one_pod(backends, lb, manifest, curl):
    b = backends(3)
    ip, port = vip()
    lb([manifest(service_yaml("web", ip, port, b, affinity=True))]).wait_ready()
    answers = {curl(f"http://{ip}:{port}/") for _ in range(6)}
    assert len(answers) == 1 and answers <= {b.answer(i) for i in range(3)}


def test_node_port_serves_on_loopback(backends, lb, manifest, curl):
    b = backends(2)
    node_port = free_port("127.0.0.1", 30000, 32767)
    cluster_ip = f"{random_loopback_net()}.10"
    path = manifest(service_yaml("np", cluster_ip, 80, b, node_port=node_port))
    proc = lb([path], extra=["--nodeport-addresses", "127.0.0.1"]).wait_ready()
    answers = [curl(f"http://127.0.0.1:{node_port}/") for _ in range(4)]
    assert sorted(set(answers)) == sorted(b.answer(i) for i in range(2))
    vs = {(v["address"], v["port"]): v for v in proc.status()["virtual_servers"]}
    assert vs[("127.0.0.1", node_port)]["kind"] == "nodePort"
    assert vs[(cluster_ip, 80)]["kind"] == "clusterIP"


def test_node_port_held_by_another_process_is_reported_and_the_rest_serves(backends, lb, manifest, curl):
    b = backends(1)
    node_port = free_port("127.0.0.1", 30000, 32767)
    ip, port = vip()
    holder = socket.socket()
    holder.bind(("127.0.0.1", node_port))
    holder.listen()
    try:
        text = service_yaml("np", f"{random_loopback_net()}.10", 80, b, node_port=node_port) + "---\n" + \
            service_yaml("web", ip, port, b)
        proc = lb([manifest(text)], extra=["--nodeport-addresses", "127.0.0.1"]).wait_ready()
        assert curl(f"http://{ip}:{port}/") == b.answer(0)
        proc.wait_log("event=listen_failed")
        assert f"another process holds 127.0.0.1:{node_port}" in proc.log
        assert "Traceback" not in proc.log
    finally:
        holder.close()


def test_reload_adds_endpoint_while_live_connection_continues(backends, lb, manifest, curl, keepalive):
    b = backends(3)
    ip, port = vip()
    two = service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[:2], b.port)
    path = manifest(two)
    proc = lb([path]).wait_ready()
    live = keepalive(ip, port)
    first = live.get()
    assert first in (b.answer(0), b.answer(1))
    manifest(service_yaml("web", ip, port, b))            # all three endpoints now
    proc.wait_log(r"event=reload trigger=watch .*endpoints_added=1")
    answers = {curl(f"http://{ip}:{port}/") for _ in range(6)}
    assert b.answer(2) in answers
    assert live.get() == first, "the connection opened before the reload still reaches its backend"


def test_bad_edit_keeps_last_good_config_serving(backends, lb, manifest, curl):
    b = backends(2)
    ip, port = vip()
    path = manifest(service_yaml("web", ip, port, b))
    proc = lb([path]).wait_ready()
    assert curl(f"http://{ip}:{port}/") in (b.answer(0), b.answer(1))
    manifest(service_yaml("web", ip, 70000, b))        # port out of range
    proc.wait_log("event=reload_rejected")
    assert f"{path}:" in proc.log
    answers = {curl(f"http://{ip}:{port}/") for _ in range(4)}
    assert answers == {b.answer(0), b.answer(1)}
    status = proc.status()
    assert status["rejected_files"] and status["rejected_files"][0]["path"] == str(path)
    assert "lb_reload_errors_total 1" in proc.get("/metrics").decode()


def test_sighup_reloads(backends, lb, manifest, curl):
    b = backends(2)
    ip, port = vip()
    path = manifest(service_yaml("web", ip, port, None) + endpoints_yaml("web", b.ips[:1], b.port))
    proc = lb([path]).wait_ready()
    path.write_text(service_yaml("web", ip, port, b))   # in place; SIGHUP makes sure it's seen
    proc.proc.send_signal(1)
    proc.wait_log(r"event=reload trigger=(sighup|watch)")
    wait_for(lambda: len(proc.status()["virtual_servers"][0]["real_servers"]) == 2, 5, "two real servers")
    assert {curl(f"http://{ip}:{port}/") for _ in range(4)} == {b.answer(0), b.answer(1)}


def test_udp_port_reported_not_served_while_tcp_serves(backends, lb, manifest, curl):
    b = backends(1)
    ip, port = vip()
    udp = f"  - name: dns\n    port: {port}\n    protocol: UDP\n    targetPort: 53\n"
    proc = lb([manifest(service_yaml("dns", ip, port, b, extra_ports=udp))]).wait_ready()
    assert curl(f"http://{ip}:{port}/") == b.answer(0)
    proc.wait_log('event=not_served .*reason="UDP is not served yet"')
    assert any(n["frontend"].endswith("/UDP") for n in proc.status()["not_served"])


def test_sigterm_drains_live_request_and_exits_zero(backends, lb, manifest):
    b = backends(1)
    ip, port = vip()
    proc = lb([manifest(service_yaml("web", ip, port, b))]).wait_ready()
    result = {}

    def slow_request():
        result["body"] = subprocess.run(["curl", "-sS", "--max-time", "8", f"http://{ip}:{port}/hold/1"],
                                        capture_output=True, text=True, timeout=15).stdout.strip()
    t = threading.Thread(target=slow_request)
    t.start()
    wait_for(lambda: proc.status()["active_connections"] >= 1, 5, "the slow request to be in flight")
    began = time.monotonic()
    assert proc.terminate(timeout=10) == 0
    t.join(10)
    assert time.monotonic() - began < 3 + 2, "exits within --drain-timeout"
    assert result.get("body") == b.answer(0), "the in-flight request finished during the drain"
    assert "event=stopped" in proc.log


def local_routes(ns: str) -> str:
    out = ""
    for family in ("-4", "-6"):
        out += subprocess.run(["ip", family, "-n", ns, "route", "show", "table", "local"], capture_output=True,
                              text=True).stdout
    return out


def test_vips_are_made_local_by_routes_in_a_netns_and_leave_at_exit(netns, backends, lb, manifest, curl):
    """The service range gets one local route (every address in it is local, no address per
    VIP); an external IP outside it gets a /32 route of its own. Both go at exit."""
    ns = netns("vip")
    b = backends(3, ns=ns, net="127.0.0")
    node_port = random.randint(30000, 32767)
    text = service_yaml("service-clusterip", "10.97.97.97", 80, b, node_port=node_port)
    text = text.replace("  clusterIP: 10.97.97.97\n", "  clusterIP: 10.97.97.97\n  externalIPs: [192.168.77.5]\n")
    path = manifest(text)
    proc = lb([path], extra=["--service-cluster-ip-range", "10.96.0.0/12"], ns=ns).wait_ready()
    answers = [curl("http://10.97.97.97:80/", ns=ns) for _ in range(6)]
    assert sorted(answers) == sorted([b.answer(i) for i in range(3)] * 2)
    assert curl("http://192.168.77.5:80/", ns=ns) in answers
    assert curl(f"http://127.0.0.1:{node_port}/", ns=ns) in answers     # wildcard node port
    dev = "lo" if "event=dummy_unsupported" in proc.log else "lb0"
    assert f"event=range_routed range=10.96.0.0/12 interface={dev}" in proc.log
    routes = local_routes(ns)
    assert "local 10.96.0.0/12 dev" in routes and "local 192.168.77.5 dev" in routes
    addrs = subprocess.run(["ip", "-n", ns, "-o", "addr", "show"], capture_output=True, text=True)
    assert "10.97.97.97" not in addrs.stdout and "192.168.77.5" not in addrs.stdout, "routes, not addresses"
    served = [vs for vs in proc.status()["virtual_servers"] if vs["port"] == 80]
    assert {vs["address"] for vs in served} == {"10.97.97.97", "192.168.77.5"}
    sockets = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :80"], capture_output=True,
                             text=True).stdout
    assert {line.split()[3] for line in sockets.splitlines()} == {"0.0.0.0:80"}, "one listener for every VIP"
    assert proc.terminate() == 0
    assert "event=routes_removed count=2" in proc.log
    routes = local_routes(ns)
    assert "10.96.0.0/12" not in routes and "192.168.77.5" not in routes, "lb removes exactly what it added"
    if dev == "lb0":
        gone = subprocess.run(["ip", "-n", ns, "link", "show", "dev", "lb0"], capture_output=True, text=True)
        assert gone.returncode != 0, "lb created lb0, so lb deletes it"


def test_a_range_that_holds_a_network_of_the_machine_is_not_routed_whole(netns, backends, lb, manifest, curl):
    """A local route for 10.96.0.0/12 would hide the hosts of 10.100.0.0/24 on this machine's
    link: lb routes each VIP instead, and says why."""
    ns = netns("overlap")
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.100.0.1/24", "dev", "lo"], check=True)
    b = backends(2, ns=ns, net="127.0.0")
    path = manifest(service_yaml("web", "10.97.0.9", 80, b))
    proc = lb([path], extra=["--service-cluster-ip-range", "10.96.0.0/12"], ns=ns).wait_ready()
    assert curl("http://10.97.0.9:80/", ns=ns) in (b.answer(0), b.answer(1))
    assert "event=range_not_routed range=10.96.0.0/12" in proc.log
    routes = local_routes(ns)
    assert "local 10.97.0.9 dev" in routes and "10.96.0.0/12" not in routes
    assert proc.terminate() == 0
    assert "10.97.0.9" not in local_routes(ns)


def test_a_port_another_program_holds_an_address_of_gets_a_socket_per_vip(netns, backends, lb, manifest, curl):
    """Someone else's 127.0.0.1:PORT makes 0.0.0.0:PORT unbindable: the VIPs on PORT fall back
    to a socket each, and both programs serve."""
    ns = netns("busy")
    b = backends(2, ns=ns, net="127.0.0")
    port = b.port + 1
    holder = subprocess.Popen(["ip", "netns", "exec", ns, PYTHON, "-c",
                               f"import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); "
                               "s.listen(); print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        path = manifest(service_yaml("web", "10.97.0.5", port, b, target_port=b.port))
        proc = lb([path], extra=["--service-cluster-ip-range", "10.96.0.0/12"], ns=ns).wait_ready()
        assert curl(f"http://10.97.0.5:{port}/", ns=ns) in (b.answer(0), b.answer(1))
        assert "event=wildcard_busy" in proc.log
        sockets = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn", f"sport = :{port}"],
                                 capture_output=True, text=True).stdout
        assert {line.split()[3] for line in sockets.splitlines()} == {f"127.0.0.1:{port}", f"10.97.0.5:{port}"}
    finally:
        holder.kill()
        holder.wait(5)


def test_nothing_valid_exits_one_with_file_line(lb, manifest):
    path = manifest("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 70000\n")
    proc = lb([path])
    assert proc.proc.wait(15) == 1
    assert f"{path}:" in proc.log and "event=nothing_to_serve" in proc.log
    assert "Traceback" not in proc.log


def test_reload_removes_gone_frontend_and_its_live_connection_continues(backends, lb, manifest, curl, keepalive):
    b = backends(1)
    (ip1, port1), (ip2, port2) = vip(), vip()
    both = service_yaml("one", ip1, port1, b) + "---\n" + service_yaml("two", ip2, port2, b)
    proc = lb([manifest(both)]).wait_ready()
    live = keepalive(ip2, port2)
    assert live.get() == b.answer(0)
    manifest(service_yaml("one", ip1, port1, b))
    proc.wait_log(r"event=unlisten address=" + ip2.replace(".", r"\."))
    refused = subprocess.run(["curl", "-sS", "--max-time", "3", f"http://{ip2}:{port2}/"], capture_output=True)
    assert refused.returncode == 7, "no listener on the removed frontend"
    assert curl(f"http://{ip1}:{port1}/") == b.answer(0)
    assert live.get() == b.answer(0), "a connection accepted before the removal continues"


def test_without_capabilities_vip_and_low_port_fail_alone(netns, backends, lb, manifest, curl):
    ns = netns("nocap")
    b = backends(1, ns=ns, net="127.0.0")
    text = "---\n".join([service_yaml("far", "10.97.97.97", 80, b), service_yaml("low", "127.0.0.98", 80, b),
                          service_yaml("near", "127.0.0.97", 8080, b)])
    drop = "-net_admin,-net_bind_service"
    proc = lb([manifest(text)], extra=["--service-cluster-ip-range", "10.96.0.0/12"],
              ns=ns, wrap=["setpriv", "--bounding-set", drop, "--inh-caps", drop]).wait_ready()
    assert curl("http://127.0.0.97:8080/", ns=ns) == b.answer(0)
    proc.wait_log("event=address_failed address=10.97.97.97")
    assert "lacks CAP_NET_ADMIN" in proc.log and "Traceback" not in proc.log
    proc.wait_log("event=listen_failed address=127.0.0.98:80/TCP reason=EACCES")
    assert "needs root or CAP_NET_BIND_SERVICE (port 80 < 1024)" in proc.log
    far = [v for v in proc.status()["virtual_servers"] if v["address"] == "10.97.97.97"][0]
    assert not far["serving"] and "CAP_NET_ADMIN" in far["error"]


def test_new_file_in_a_watched_folder_is_served(backends, lb, tmp_path, curl):
    b = backends(1)
    (ip1, port1), (ip2, port2) = vip(), vip()
    folder = tmp_path / "manifests"
    (folder / "team").mkdir(parents=True)
    (folder / "one.yaml").write_text(service_yaml("one", ip1, port1, b))
    proc = lb([folder]).wait_ready()
    (folder / "team" / ".two.tmp").write_text(service_yaml("two", ip2, port2, b))
    (folder / "team" / ".two.tmp").rename(folder / "team" / "two.yaml")
    proc.wait_log(r"event=listen frontend=" + ip2.replace(".", r"\."))
    assert curl(f"http://{ip2}:{port2}/") == b.answer(0)
    assert curl(f"http://{ip1}:{port1}/") == b.answer(0)
