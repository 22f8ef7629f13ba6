"""lb._core listeners over real sockets: per-worker SO_REUSEPORT sockets, removal, bad fds,
EMFILE backoff."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import wait_for
from core_harness import SelectorEcho, eps_of, read_line, tag_of
from lb import _core


def test_per_worker_reuseport_listeners_spread_connections_and_keep_one_rr_order(proxy, tcp_backends):
    bs = tcp_backends(4)
    socks = []
    for worker in range(2):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", socks[0].getsockname()[1] if socks else 0))
        s.listen(128)
        socks.append(s)
    proxy.ports[1] = socks[0].getsockname()
    for worker, s in enumerate(socks):
        proxy.core.add_listener(s.fileno(), 1, worker=worker)
        s.detach()
    with socket.socket() as spare, pytest.raises(ValueError, match="already registered for worker 1"):
        proxy.core.add_listener(spare.fileno(), 1, worker=1)
    proxy.apply(eps_of(bs))
    got = [tag_of(proxy) for _ in range(200)]     # 200 source ports: the kernel's hash uses both sockets
    assert {t: got.count(t) for t in set(got)} == {b.tag: 50 for b in bs}
    per_worker = proxy.core.stats()["accepted_per_worker"]
    assert sum(per_worker) == 200 and min(per_worker) > 0, per_worker
    proxy.core.remove_listener(1)                 # closes both sockets
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.ports[1], timeout=2)


def test_removed_listener_stops_accepting_but_connections_continue(proxy, tcp_backends):
    bs = tcp_backends(1)
    ip, port = proxy.listen(1)
    proxy.apply(eps_of(bs))
    live = proxy.connect()
    read_line(live)
    proxy.core.remove_listener(1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, port), timeout=2)
    live.sendall(b"ping")
    assert live.recv(4) == b"ping"
    live.close()
    with pytest.raises(KeyError):
        proxy.core.remove_listener(1)


def test_add_listener_rejects_bad_fds():
    core = _core.Core(workers=1)
    with pytest.raises(OSError, match="fd 9999"):
        core.add_listener(9999, 1)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    with pytest.raises(OSError, match="not listening"):
        core.add_listener(s.fileno(), 1)
    s.close()
    with pytest.raises(ValueError, match="scheduler"):
        core.apply({"service_ports": [(1, "x", "maglev", 0, ())], "frontends": []})
    with pytest.raises(ValueError, match="not an IP"):
        core.apply({"service_ports": [(1, "x", "rr", 0, ((1, "nope", 80, 1),))], "frontends": []})
    assert core.stats()["generation"] == 0


EMFILE_CHILD = textwrap.dedent("""
    import json, os, resource, socket, sys
    from lb import _core
    backend_ip, backend_port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    core = _core.Core(workers=2, max_pipes=0)
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024); s.setblocking(False)
    core.add_listener(s.fileno(), 1); port = s.getsockname()[1]; s.detach()
    core.apply({"service_ports": [(1, "x", "rr", 0, ((1, backend_ip, backend_port, 1),))],
                "frontends": [(1, "", 0, 1)]})
    core.start()
    # room for exactly n proxied connections (2 fds each)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = max(int(f) for f in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (top + 1 + 2 * n, hard))
    print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps(core.stats()["accept_errors"]), flush=True)
        else:
            break
    core.stop(0)
""")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_emfile_backs_off_and_recovers():
    echo = SelectorEcho()
    n = 20
    child = subprocess.Popen([sys.executable, "-c", EMFILE_CHILD, echo.ip, str(echo.port), str(n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
    clients = []
    try:
        info = json.loads(child.stdout.readline())
        port = info["port"]

        def stats():
            child.stdin.write("stats\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        for i in range(n + 10):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        for i, c in enumerate(clients[:n]):
            c.sendall(b"%04d" % i)
            assert c.recv(4) == b"%04d" % i
        wait_for(lambda: stats()["emfile"] > 0, 5, "an accept to hit EMFILE")
        cpu0 = cpu_seconds(info["pid"])
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 1.0, 2, "a one-second CPU measurement window")
        assert cpu_seconds(info["pid"]) - cpu0 < 0.5  # backing off, not spinning
        for c in clients[:n]:
            c.close()
        for i, c in enumerate(clients[n:]):
            c.sendall(b"late")
            assert c.recv(4) == b"late"
        assert stats()["emfile"] > 0
    finally:
        for c in clients:
            c.close()
        child.stdin.write("quit\n")
        child.stdin.flush()
        child.wait(10)
        echo.close()
