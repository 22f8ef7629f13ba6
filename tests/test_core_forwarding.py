"""lb._core forwarding over real sockets: bytes intact both ways (splice and copy path, 1 GiB),
half-close, resets, many connections, IPv6."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import wait_for
from core_harness import SP, Proxy, SelectorEcho, eps_of, read_line, tag_of

GIB = 1 << 30
CHUNK = 1 << 20


def stream(seed, total):
    block = hashlib.sha256(seed).digest() * (CHUNK // 32)
    for i in range(total // CHUNK):
        yield block[i % 251:] + block[:i % 251]


def expected_digest(seed, total):
    h = hashlib.sha256()
    for b in stream(seed, total):
        h.update(b)
    return h.hexdigest()


def send_and_hash(sock, seed, total, result):
    """Sends stream(seed) then SHUT_WR while a thread hashes what comes back until EOF."""
    def rx():
        h, n = hashlib.sha256(), 0
        while True:
            d = sock.recv(CHUNK)
            if not d:
                break
            h.update(d)
            n += len(d)
        result["rx"] = (n, h.hexdigest())
    t = threading.Thread(target=rx, daemon=True)
    t.start()
    for b in stream(seed, total):
        sock.sendall(b)
    sock.shutdown(socket.SHUT_WR)
    t.join(60)


def test_one_gib_each_direction_arrives_intact(proxy, tcp_backends):
    server_result = {}
    bs = tcp_backends(1, handler=lambda c: send_and_hash(c, b"down", GIB, server_result))
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    client_result = {}
    t0 = time.monotonic()
    with proxy.connect(timeout=30) as c:
        send_and_hash(c, b"up", GIB, client_result)
    elapsed = time.monotonic() - t0
    wait_for(lambda: "rx" in server_result, 10, "the backend's digest")
    assert server_result["rx"] == (GIB, expected_digest(b"up", GIB))
    assert client_result["rx"] == (GIB, expected_digest(b"down", GIB))
    assert elapsed < 25
    st = wait_for(lambda: (lambda s: s if s["active_connections"] == 0 else None)(proxy.core.stats()),
                  10, "the connection to end")
    assert st["service_ports"][SP]["bytes_in"] == GIB
    assert st["service_ports"][SP]["bytes_out"] == GIB
    assert st["pipes"]["in_use"] == 0


def test_half_close_client_still_receives_full_reply(proxy, tcp_backends):
    reply = os.urandom(3 * CHUNK)

    def handler(c):
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        c.sendall(hashlib.sha256(got).digest() + reply)

    bs = tcp_backends(1, handler=handler)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    request = os.urandom(100000)
    with proxy.connect() as c:
        c.sendall(request)
        c.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
    assert got[:32] == hashlib.sha256(request).digest()
    assert got[32:] == reply


def test_copy_path_without_pipes_keeps_data_intact(tcp_backends):
    total = 64 * CHUNK
    server_result = {}
    bs = tcp_backends(1, handler=lambda c: send_and_hash(c, b"down", total, server_result))
    proxy = Proxy(max_pipes=0)
    try:
        proxy.listen(1)
        proxy.apply(eps_of(bs))
        client_result = {}
        with proxy.connect(timeout=20) as c:
            send_and_hash(c, b"up", total, client_result)
        wait_for(lambda: "rx" in server_result, 10, "the backend's digest")
        assert server_result["rx"] == (total, expected_digest(b"up", total))
        assert client_result["rx"] == (total, expected_digest(b"down", total))
        assert proxy.core.stats()["pipes"] == {"pooled": 0, "in_use": 0}
    finally:
        proxy.close()


PIPE_FAIL_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    from lb import _core
    import socket
    backend_ip, backend_port = sys.argv[1], int(sys.argv[2])
    core = _core.Core(workers=1)
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16); s.setblocking(False)
    core.add_listener(s.fileno(), 1); port = s.getsockname()[1]; s.detach()
    core.apply({"service_ports": [(1, "x", "rr", 0, ((1, backend_ip, backend_port, 1),))],
                "frontends": [(1, "", 0, 1)]})
    core.start()
    # room for exactly two more descriptors, the accepted client and the backend socket: none
    # for pipe2. Descriptors are numbered lowest-free-first, so fill the holes below top.
    top = max(int(f) for f in os.listdir("/proc/self/fd"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (top + 1 + 2, hard))
    while True:
        fd = os.open("/dev/null", os.O_RDONLY)
        if fd > top:
            os.close(fd)
            break
    print(json.dumps({"port": port}), flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            st = core.stats()
            print(json.dumps({"pipe_failures": st["pipe_failures"], "pipes": st["pipes"]}), flush=True)
        else:
            break
    core.stop(0)
""")


def test_pipe2_failure_takes_the_copy_path_and_is_counted():
    echo = SelectorEcho()
    child = subprocess.Popen([sys.executable, "-c", PIPE_FAIL_CHILD, echo.ip, str(echo.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        port = json.loads(child.stdout.readline())["port"]

        def stats():
            child.stdin.write("stats\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        data = os.urandom(4 * CHUNK)    # bulk: the copy buffer fills, the direction wants a pipe
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            threading.Thread(target=c.sendall, args=(data,), daemon=True).start()
            got = bytearray()
            while len(got) < len(data):
                d = c.recv(CHUNK)
                assert d, "closed early"
                got += d
        assert bytes(got) == data
        st = stats()
        assert st["pipe_failures"] > 0
        assert st["pipes"] == {"pooled": 0, "in_use": 0}
    finally:
        child.stdin.write("quit\n")
        child.stdin.flush()
        child.wait(10)
        echo.close()


def test_half_closed_connection_is_fin_wait_and_inactive(proxy, tcp_backends):
    release = threading.Event()

    def handler(c):
        while c.recv(65536):
            pass
        release.wait(10)
        c.sendall(b"bye")

    bs = tcp_backends(1, handler=handler)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    with proxy.connect() as c:
        c.sendall(b"hi")
        c.shutdown(socket.SHUT_WR)
        wait_for(lambda: [e[6] for e in proxy.core.connections()] == ["FIN_WAIT"], 10, "FIN_WAIT")
        ep = proxy.core.stats()["endpoints"][100]
        assert (ep["active"], ep["inactive"]) == (0, 1)
        release.set()
        assert c.recv(3) == b"bye"
        assert c.recv(1) == b""
    wait_for(lambda: proxy.core.stats()["active_connections"] == 0, 10, "no active connections")


def test_backend_half_close_is_close_wait(proxy, tcp_backends):
    def handler(c):
        c.sendall(b"bye")
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass

    bs = tcp_backends(1, handler=handler)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    with proxy.connect() as c:
        assert c.recv(3) == b"bye"
        assert c.recv(1) == b""
        wait_for(lambda: [e[6] for e in proxy.core.connections()] == ["CLOSE_WAIT"], 10, "CLOSE_WAIT")
        c.sendall(b"late")          # the client -> backend direction still flows
    wait_for(lambda: proxy.core.stats()["active_connections"] == 0, 10, "no active connections")
    assert proxy.core.stats()["service_ports"][SP]["bytes_in"] == 4


def test_backend_reset_propagates_to_client(proxy, tcp_backends):
    def handler(c):
        c.recv(10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()

    bs = tcp_backends(1, handler=handler)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    with proxy.connect() as c:
        c.sendall(b"x")
        with pytest.raises(ConnectionResetError):
            c.recv(1)


def test_thousand_concurrent_connections(proxy):
    echo = SelectorEcho()
    try:
        proxy.listen(1)
        proxy.apply([(100, echo.ip, echo.port)])
        clients = []
        for i in range(1000):
            clients.append(proxy.connect(timeout=10))
        wait_for(lambda: proxy.core.stats()["endpoints"][100]["active"] == 1000, 10, "1000 active")
        assert proxy.core.stats()["active_connections"] == 1000
        for i, c in enumerate(clients):
            c.sendall(b"%06d" % i)
        for i, c in enumerate(clients):
            got = b""
            while len(got) < 6:
                got += c.recv(6 - len(got))
            assert got == b"%06d" % i
        for c in clients:
            c.close()
        wait_for(lambda: proxy.core.stats()["active_connections"] == 0, 10, "no active connections")
        st = proxy.core.stats()["endpoints"][100]
        assert st["active"] == 0 and st["inactive"] == 0 and st["connections"] == 1000
    finally:
        echo.close()


def test_ipv6_frontend_with_ipv4_and_ipv6_backends(proxy, tcp_backends):
    b6 = tcp_backends(1, ip="::1")[0]
    b4 = tcp_backends(1)[0]
    proxy.listen(1, ip="::1")
    proxy.apply([(100, "::1", b6.port), (101, b4.ip, b4.port)])
    assert [tag_of(proxy) for _ in range(4)] == [b6.tag, b4.tag] * 2
    with proxy.connect() as c1, proxy.connect() as c2:
        read_line(c1)
        read_line(c2)
        mine = {c1.getsockname()[1], c2.getsockname()[1]}
        conns = [e for e in proxy.core.connections() if e[1] in mine]
        assert sorted((e[0], e[2], e[4], e[5]) for e in conns) == sorted(
            [("::1", "::1", "::1", b6.port), ("::1", "::1", "127.0.0.3", b4.port)])
