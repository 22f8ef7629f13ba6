"""Scenarios for lb._core over real sockets: backends run in this process on 127.0.0.x:0 (and
::1), the core forwards to them, the tests assert what clients saw and what stats() reports."""
import hashlib
import json
import os
import selectors
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from lb import _core

SP = 10


def wait_until(cond, timeout=10.0, interval=0.01):
    """Polls cond() until it is true or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


class Backend:
    """A TCP server on (ip, 0): handler(conn) runs in a thread per connection."""

    def __init__(self, ip="127.0.0.2", handler=None, tag=None):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(1024)
        self.ip, self.port = self.sock.getsockname()[:2]
        self.tag = tag or f"{self.ip}:{self.port}".encode()
        self.handler = handler or self.tag_echo
        self.accepted = 0
        self.conns = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def tag_echo(self, c):
        c.sendall(self.tag + b"\n")
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handler(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._t.join(5)


class SelectorEcho:
    """One thread, many connections: echoes everything (for the 1,000-connection test)."""

    def __init__(self, ip="127.0.0.2"):
        self.sock = socket.socket()
        self.sock.bind((ip, 0))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.ip, self.port = self.sock.getsockname()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.1):
                if key.fileobj is self.sock:
                    while True:
                        try:
                            c, _ = self.sock.accept()
                        except BlockingIOError:
                            break
                        c.setblocking(True)
                        self.sel.register(c, selectors.EVENT_READ)
                else:
                    c = key.fileobj
                    try:
                        d = c.recv(65536)
                    except OSError:
                        d = b""
                    if d:
                        c.sendall(d)
                    else:
                        self.sel.unregister(c)
                        c.close()

    def close(self):
        self.stop = True
        self._t.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def refused_port(ip="127.0.0.2"):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LB:
    """A Core with one listener per frontend address; builds tables from backends."""

    def __init__(self, workers=2, **kw):
        self.core = _core.Core(workers=workers, **kw)
        self.ports = {}
        self.core.start()

    def listen(self, lid, ip="127.0.0.1", wildcard=False):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, 0))
        s.listen(4096)
        s.setblocking(False)
        self.core.add_listener(s.fileno(), lid, wildcard=wildcard)
        self.ports[lid] = (ip, s.getsockname()[1])
        s.detach()
        return self.ports[lid]

    def apply(self, endpoints, affinity=0, sp=SP, lid=1, extra=()):
        """endpoints: [(ep_id, ip, port)]."""
        return self.core.apply({
            "service_ports": [(sp, "test/svc:p/TCP", "rr", affinity,
                               tuple((e, ip, port, 1) for e, ip, port in endpoints))] + list(extra),
            "frontends": [(lid, "", 0, sp)],
        })

    def connect(self, lid=1, source=None, timeout=5):
        return socket.create_connection(self.ports[lid], timeout=timeout, source_address=source)

    def close(self):
        self.core.stop(1.0)


@pytest.fixture
def lb():
    x = LB()
    yield x
    x.close()


@pytest.fixture
def backends():
    made = []

    def make(n=1, ip="127.0.0.{}", **kw):
        for i in range(n):
            made.append(Backend(ip.format(2 + len(made)) if "{}" in ip else ip, **kw))
        return made[-n:]

    yield make
    for b in made:
        b.close()


def eps_of(bs, first=100):
    return [(first + i, b.ip, b.port) for i, b in enumerate(bs)]


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise ConnectionError("closed before a full line: %r" % buf)
        buf += d
    return buf[:-1]


def tag_of(lb, **kw):
    with lb.connect(**kw) as c:
        return read_line(c)


# -- scheduling -----------------------------------------------------------------------------

def test_round_robin_order_is_global_across_two_workers(lb, backends):
    bs = backends(3)
    lb.listen(1)
    lb.apply(eps_of(bs))
    got = [tag_of(lb) for _ in range(6)]
    assert got == [b.tag for b in bs] * 2
    st = lb.core.stats()
    assert [st["endpoints"][100 + i]["connections"] for i in range(3)] == [2, 2, 2]


def test_client_ip_affinity_sticks_until_timeout(lb, backends):
    bs = backends(3)
    lb.listen(1)
    lb.apply(eps_of(bs), affinity=1.0)
    first = tag_of(lb)
    for _ in range(4):
        assert tag_of(lb) == first
    # another client IP does not share the entry
    assert tag_of(lb, source=("127.0.0.9", 0)) != first
    last_use = time.monotonic()
    assert wait_until(lambda: time.monotonic() - last_use > 1.05, timeout=3)
    assert tag_of(lb) != first


def test_affinity_entry_is_replaced_when_its_endpoint_dies(lb, backends):
    bs = backends(3)
    lb.listen(1)
    lb.apply(eps_of(bs), affinity=60)
    first = tag_of(lb)
    dead = next(b for b in bs if b.tag == first)
    dead.close()
    second = tag_of(lb)  # no client error: the core retries another endpoint
    assert second != first
    assert all(tag_of(lb) == second for _ in range(3))
    st = lb.core.stats()["service_ports"][SP]
    assert st["retries"] == 1 and st["connect_failures"] == 1


def test_retry_when_an_endpoint_refuses(lb, backends):
    bs = backends(2)
    lb.listen(1)
    eps = [(100, bs[0].ip, bs[0].port), (101, "127.0.0.2", refused_port()), (102, bs[1].ip, bs[1].port)]
    lb.apply(eps)
    got = [tag_of(lb) for _ in range(9)]
    assert set(got) == {bs[0].tag, bs[1].tag}
    st = lb.core.stats()
    assert st["service_ports"][SP]["retries"] == st["service_ports"][SP]["connect_failures"] >= 3
    assert st["endpoints"][101]["connect_failures"] >= 3
    assert st["endpoints"][101]["connections"] == 0


def test_connect_timeout_retries_next_endpoint():
    # a listener whose accept queue is full drops SYNs: connect to it times out
    lb = LB(connect_timeouts=(0.2, 0.2, 0.2))
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.5", 0))
    blackhole.listen(0)
    fill = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(blackhole.getsockname())
            fill.append(s)
        good = Backend("127.0.0.6")
        lb.listen(1)
        lb.apply([(100, *blackhole.getsockname()), (101, good.ip, good.port)])
        t0 = time.monotonic()
        assert tag_of(lb) == good.tag
        assert 0.15 < time.monotonic() - t0 < 2
        assert lb.core.stats()["endpoints"][100]["connect_failures"] == 1
        good.close()
    finally:
        for s in fill:
            s.close()
        blackhole.close()
        lb.close()


def test_reset_at_once_without_endpoints(lb):
    lb.listen(1)
    lb.apply([])
    t0 = time.monotonic()
    with pytest.raises(ConnectionResetError):
        with lb.connect() as c:
            c.recv(1)
    assert time.monotonic() - t0 < 1
    assert wait_until(lambda: lb.core.stats()["service_ports"][SP]["no_endpoint_resets"] == 1)


def test_reset_when_every_endpoint_refuses():
    lb = LB(connect_timeouts=(0.25, 0.5))
    try:
        lb.listen(1)
        lb.apply([(100, "127.0.0.2", refused_port())])
        with pytest.raises(ConnectionResetError):
            with lb.connect() as c:
                c.recv(1)
        st = lb.core.stats()["service_ports"][SP]
        assert st["connect_failures"] == 2 and st["retries"] == 1
    finally:
        lb.close()


# -- forwarding -----------------------------------------------------------------------------

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


def test_one_gib_each_direction_arrives_intact(lb, backends):
    server_result = {}
    bs = backends(1, handler=lambda c: send_and_hash(c, b"down", GIB, server_result))
    lb.listen(1)
    lb.apply(eps_of(bs))
    client_result = {}
    t0 = time.monotonic()
    with lb.connect(timeout=30) as c:
        send_and_hash(c, b"up", GIB, client_result)
    elapsed = time.monotonic() - t0
    assert wait_until(lambda: "rx" in server_result, timeout=10)
    assert server_result["rx"] == (GIB, expected_digest(b"up", GIB))
    assert client_result["rx"] == (GIB, expected_digest(b"down", GIB))
    assert elapsed < 25
    st = wait_until(lambda: (lambda s: s if s["active_connections"] == 0 else None)(lb.core.stats()))
    assert st["service_ports"][SP]["bytes_in"] == GIB
    assert st["service_ports"][SP]["bytes_out"] == GIB
    assert st["pipes"]["in_use"] == 0


def test_half_close_client_still_receives_full_reply(lb, backends):
    reply = os.urandom(3 * CHUNK)

    def handler(c):
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        c.sendall(hashlib.sha256(got).digest() + reply)

    bs = backends(1, handler=handler)
    lb.listen(1)
    lb.apply(eps_of(bs))
    request = os.urandom(100000)
    with lb.connect() as c:
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


def test_copy_path_without_pipes_keeps_data_intact(backends):
    total = 64 * CHUNK
    server_result = {}
    bs = backends(1, handler=lambda c: send_and_hash(c, b"down", total, server_result))
    lb = LB(max_pipes=0)
    try:
        lb.listen(1)
        lb.apply(eps_of(bs))
        client_result = {}
        with lb.connect(timeout=20) as c:
            send_and_hash(c, b"up", total, client_result)
        assert wait_until(lambda: "rx" in server_result)
        assert server_result["rx"] == (total, expected_digest(b"up", total))
        assert client_result["rx"] == (total, expected_digest(b"down", total))
        assert lb.core.stats()["pipes"] == {"pooled": 0, "in_use": 0}
    finally:
        lb.close()


def test_half_closed_connection_is_fin_wait_and_inactive(lb, backends):
    release = threading.Event()

    def handler(c):
        while c.recv(65536):
            pass
        release.wait(10)
        c.sendall(b"bye")

    bs = backends(1, handler=handler)
    lb.listen(1)
    lb.apply(eps_of(bs))
    with lb.connect() as c:
        c.sendall(b"hi")
        c.shutdown(socket.SHUT_WR)
        assert wait_until(lambda: [e[6] for e in lb.core.connections()] == ["FIN_WAIT"])
        ep = lb.core.stats()["endpoints"][100]
        assert (ep["active"], ep["inactive"]) == (0, 1)
        release.set()
        assert c.recv(3) == b"bye"
        assert c.recv(1) == b""
    assert wait_until(lambda: lb.core.stats()["active_connections"] == 0)


def test_backend_reset_propagates_to_client(lb, backends):
    def handler(c):
        c.recv(10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()

    bs = backends(1, handler=handler)
    lb.listen(1)
    lb.apply(eps_of(bs))
    with lb.connect() as c:
        c.sendall(b"x")
        with pytest.raises(ConnectionResetError):
            c.recv(1)


def test_thousand_concurrent_connections(lb):
    echo = SelectorEcho()
    try:
        lb.listen(1)
        lb.apply([(100, echo.ip, echo.port)])
        clients = []
        for i in range(1000):
            clients.append(lb.connect(timeout=10))
        assert wait_until(lambda: lb.core.stats()["endpoints"][100]["active"] == 1000)
        assert lb.core.stats()["active_connections"] == 1000
        for i, c in enumerate(clients):
            c.sendall(b"%06d" % i)
        for i, c in enumerate(clients):
            got = b""
            while len(got) < 6:
                got += c.recv(6 - len(got))
            assert got == b"%06d" % i
        for c in clients:
            c.close()
        assert wait_until(lambda: lb.core.stats()["active_connections"] == 0)
        st = lb.core.stats()["endpoints"][100]
        assert st["active"] == 0 and st["inactive"] == 0 and st["connections"] == 1000
    finally:
        echo.close()


def test_ipv6_frontend_with_ipv4_and_ipv6_backends(lb, backends):
    b6 = backends(1, ip="::1")[0]
    b4 = backends(1)[0]
    lb.listen(1, ip="::1")
    lb.apply([(100, "::1", b6.port), (101, b4.ip, b4.port)])
    assert [tag_of(lb) for _ in range(4)] == [b6.tag, b4.tag] * 2
    with lb.connect() as c1, lb.connect() as c2:
        read_line(c1)
        read_line(c2)
        mine = {c1.getsockname()[1], c2.getsockname()[1]}
        conns = [e for e in lb.core.connections() if e[1] in mine]
        assert sorted((e[0], e[2], e[4], e[5]) for e in conns) == sorted(
            [("::1", "::1", "::1", b6.port), ("::1", "::1", "127.0.0.3", b4.port)])


def test_wildcard_listener_routes_by_local_address(lb, backends):
    b1, b2 = backends(2)
    _, port = lb.listen(7, ip="0.0.0.0", wildcard=True)
    lb.core.apply({
        "service_ports": [(1, "a", "rr", 0, ((100, b1.ip, b1.port, 1),)),
                          (2, "b", "rr", 0, ((101, b2.ip, b2.port, 1),))],
        "frontends": [(7, "127.0.0.10", port, 1), (7, "127.0.0.11", port, 2)],
    })
    for ip, b in (("127.0.0.10", b1), ("127.0.0.11", b2)):
        with socket.create_connection((ip, port), timeout=5) as c:
            assert read_line(c) == b.tag
    with pytest.raises(ConnectionResetError):
        with socket.create_connection(("127.0.0.12", port), timeout=5) as c:
            c.recv(1)


# -- reloads and listeners --------------------------------------------------------------------

def test_apply_while_connections_are_live(lb, backends):
    bs = backends(2)
    lb.listen(1)
    g1 = lb.apply(eps_of(bs))
    live = lb.connect()
    assert read_line(live) == bs[0].tag
    g2 = lb.apply([(101, bs[1].ip, bs[1].port)])  # endpoint 100 removed
    assert g2 == g1 + 1
    live.sendall(b"still here")
    assert live.recv(100) == b"still here"
    assert [tag_of(lb) for _ in range(5)] == [bs[1].tag] * 5
    assert bs[0].accepted == 1
    st = lb.core.stats()
    assert st["generation"] == g2
    assert st["endpoints"][100]["active"] == 1  # its live connection is still counted
    live.close()
    assert wait_until(lambda: 100 not in lb.core.stats()["endpoints"])


def test_many_applies_during_traffic_break_nothing(lb, backends):
    bs = backends(3)
    lb.listen(1)
    lb.apply(eps_of(bs))
    stop = threading.Event()
    applied = [0]

    def reload():
        sets = [eps_of(bs), eps_of(bs[1:], 101), eps_of(bs[:1]), [(102, bs[2].ip, bs[2].port)]]
        while not stop.is_set() and applied[0] < 2000:
            lb.apply(sets[applied[0] % len(sets)])
            applied[0] += 1

    t = threading.Thread(target=reload, daemon=True)
    t.start()
    try:
        for i in range(300):
            with lb.connect() as c:
                assert read_line(c) in {b.tag for b in bs}
                c.sendall(b"%d" % i)
                assert c.recv(10) == b"%d" % i
    finally:
        stop.set()
        t.join(10)
    assert applied[0] > 10
    st = lb.core.stats()
    assert st["generation"] == applied[0] + 1
    assert sum(st["service_ports"][SP][k] for k in ("connect_failures", "no_endpoint_resets")) == 0


def test_per_worker_reuseport_listeners_spread_connections_and_keep_one_rr_order(lb, backends):
    bs = backends(4)
    socks = []
    for worker in range(2):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", socks[0].getsockname()[1] if socks else 0))
        s.listen(128)
        socks.append(s)
    lb.ports[1] = socks[0].getsockname()
    for worker, s in enumerate(socks):
        lb.core.add_listener(s.fileno(), 1, worker=worker)
        s.detach()
    with socket.socket() as spare, pytest.raises(ValueError, match="already registered for worker 1"):
        lb.core.add_listener(spare.fileno(), 1, worker=1)
    lb.apply(eps_of(bs))
    got = [tag_of(lb) for _ in range(200)]     # 200 source ports: the kernel's hash uses both sockets
    assert {t: got.count(t) for t in set(got)} == {b.tag: 50 for b in bs}
    per_worker = lb.core.stats()["accepted_per_worker"]
    assert sum(per_worker) == 200 and min(per_worker) > 0, per_worker
    lb.core.remove_listener(1)                 # closes both sockets
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(lb.ports[1], timeout=2)


def test_removed_listener_stops_accepting_but_connections_continue(lb, backends):
    bs = backends(1)
    ip, port = lb.listen(1)
    lb.apply(eps_of(bs))
    live = lb.connect()
    read_line(live)
    lb.core.remove_listener(1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, port), timeout=2)
    live.sendall(b"ping")
    assert live.recv(4) == b"ping"
    live.close()
    with pytest.raises(KeyError):
        lb.core.remove_listener(1)


def test_stop_drains_then_resets(backends):
    bs = backends(1)
    lb = LB()
    lb.listen(1)
    lb.apply(eps_of(bs))
    c = lb.connect()
    read_line(c)
    t0 = time.monotonic()
    lb.core.stop(0.3)
    assert 0.25 < time.monotonic() - t0 < 3
    with pytest.raises((ConnectionResetError, ConnectionError)):
        if c.recv(1) == b"":
            raise ConnectionError("closed")
    c.close()
    lb.core.stop()  # idempotent


def test_dropping_a_running_core_stops_it(backends):
    import gc
    bs = backends(1)
    lb = LB()
    ip, port = lb.listen(1)
    lb.apply(eps_of(bs))
    c = lb.connect()
    read_line(c)
    del lb
    gc.collect()
    with pytest.raises((ConnectionResetError, ConnectionError)):
        if c.recv(1) == b"":
            raise ConnectionError("closed")
    c.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, port), timeout=2)


def test_stop_releases_every_descriptor(backends):
    import gc
    bs = backends(2)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    lb = LB()
    lb.listen(1)
    lb.listen(2)
    lb.apply(eps_of(bs))
    for _ in range(20):
        with lb.connect() as c:
            read_line(c)
            c.sendall(os.urandom(200000))
    lb.core.remove_listener(2)
    lb.close()
    del lb
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


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


def test_stats_and_connections_fields(lb, backends):
    bs = backends(1)
    lb.listen(1)
    lb.apply(eps_of(bs))
    before = time.time()
    with lb.connect() as c:
        read_line(c)
        c.sendall(b"abc")
        assert c.recv(3) == b"abc"
        conns = lb.core.connections()
        assert len(conns) == 1
        (cip, cport, fip, fport, bip, bport, state, bin_, bout, started, last, sp, ep) = conns[0]
        assert (cip, cport) == c.getsockname()
        assert (fip, fport) == lb.ports[1]
        assert (bip, bport) == (bs[0].ip, bs[0].port)
        assert state == "ESTABLISHED"
        assert (bin_, bout) == (3, len(bs[0].tag) + 1 + 3)
        assert before - 1 < started <= last < time.time() + 1
        assert (sp, ep) == (SP, 100)
        st = lb.core.stats()
        assert st["workers"] == 2 and st["active_connections"] == 1
        assert set(st["accept_errors"]) == {"emfile", "other"}
        assert set(st["pipes"]) == {"pooled", "in_use"}
        assert st["service_ports"][SP] == {"connections": 1, "bytes_in": 3,
                                           "bytes_out": len(bs[0].tag) + 4,
                                           "connect_failures": 0, "retries": 0,
                                           "no_endpoint_resets": 0}
        assert st["endpoints"][100]["active"] == 1 and st["endpoints"][100]["inactive"] == 0


def test_idle_timeout_closes_both_sides(backends):
    bs = backends(1)
    lb = LB(idle_timeout=0.3)
    try:
        lb.listen(1)
        lb.apply(eps_of(bs))
        with lb.connect() as c:
            read_line(c)
            t0 = time.monotonic()
            assert c.recv(1) == b""
            assert 0.25 < time.monotonic() - t0 < 3
    finally:
        lb.close()


# -- resources ---------------------------------------------------------------------------------

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
        assert wait_until(lambda: stats()["emfile"] > 0, timeout=5)
        cpu0 = cpu_seconds(info["pid"])
        t0 = time.monotonic()
        wait_until(lambda: time.monotonic() - t0 > 1.0, timeout=2)
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
