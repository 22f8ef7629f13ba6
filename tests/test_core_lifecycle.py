"""lb._core lifecycle over real sockets: stop, drain, dropping a Core, descriptors and memory
released, the fields of stats() and connections(), the idle timeout."""
import gc
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from core_harness import SP, Proxy, eps_of, read_line


def test_stop_drains_then_resets(tcp_backends):
    bs = tcp_backends(1)
    proxy = Proxy()
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    c = proxy.connect()
    read_line(c)
    t0 = time.monotonic()
    proxy.core.stop(0.3)
    assert 0.25 < time.monotonic() - t0 < 3
    with pytest.raises((ConnectionResetError, ConnectionError)):
        if c.recv(1) == b"":
            raise ConnectionError("closed")
    c.close()
    proxy.core.stop()  # idempotent


def test_dropping_a_running_core_stops_it(tcp_backends):
    bs = tcp_backends(1)
    proxy = Proxy()
    ip, port = proxy.listen(1)
    proxy.apply(eps_of(bs))
    c = proxy.connect()
    read_line(c)
    del proxy
    gc.collect()
    with pytest.raises((ConnectionResetError, ConnectionError)):
        if c.recv(1) == b"":
            raise ConnectionError("closed")
    c.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, port), timeout=2)


def test_stop_releases_every_descriptor(tcp_backends):
    bs = tcp_backends(2)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    proxy = Proxy()
    proxy.listen(1)
    proxy.listen(2)
    proxy.apply(eps_of(bs))
    for _ in range(20):
        with proxy.connect() as c:
            read_line(c)
            c.sendall(os.urandom(200000))
    proxy.core.remove_listener(2)
    proxy.close()
    del proxy
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


# Rows and frontend tables shared by consecutive tables, retired ones, states of removed ids and
# a failed apply all meet in Core.__dealloc__. glibc aborts on a double free it detects (more
# with MALLOC_CHECK_ where its debug malloc is loaded), so the child's exit status is the verdict.
DEALLOC_CHILD = textwrap.dedent("""
    import gc
    from lb import _core
    def table(n, port, fe_lid):
        eps = lambda i: tuple((i * 10 + k, "127.0.0.2", port + k, k % 2) for k in range(3))
        return {"service_ports": [(i, f"s{i}", "rr", 5 * (i % 2), eps(i)) for i in range(n)],
                "frontends": [(fe_lid, "", 0, 0)] + [(i + 100, "", 0, i) for i in range(n)]}
    for started in (False, True):
        core = _core.Core(workers=2)
        if started:
            core.start()
        core.apply(table(50, 1000, 1))
        core.apply(table(50, 1000, 1))          # all reused
        core.apply(table(60, 1000, 2))          # 10 new rows, new frontends
        core.apply(table(40, 2000, 2))          # every row rebuilt, 20 removed
        try:
            core.apply({"service_ports": [(1, "x", "rr", 0, ((999, "nope", 1, 1),))], "frontends": []})
        except ValueError:
            pass
        core.set_endpoint_state(10, 0)
        st = core.stats()
        assert st["rows_built"] == 100 and st["frontend_tables_built"] == 3, st
        del core
        gc.collect()
    print("ok")
""")


def test_dropping_a_core_after_incremental_applies_frees_each_object_once():
    done = subprocess.run([sys.executable, "-c", DEALLOC_CHILD], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, MALLOC_CHECK_="3"),
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_stats_and_connections_fields(proxy, tcp_backends):
    bs = tcp_backends(1)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    before = time.time()
    with proxy.connect() as c:
        read_line(c)
        c.sendall(b"abc")
        assert c.recv(3) == b"abc"
        conns = proxy.core.connections()
        assert len(conns) == 1
        (cip, cport, fip, fport, bip, bport, state, bin_, bout, started, last, sp, ep) = conns[0]
        assert (cip, cport) == c.getsockname()
        assert (fip, fport) == proxy.ports[1]
        assert (bip, bport) == (bs[0].ip, bs[0].port)
        assert state == "ESTABLISHED"
        assert (bin_, bout) == (3, len(bs[0].tag) + 1 + 3)
        assert before - 1 < started <= last < time.time() + 1
        assert (sp, ep) == (SP, 100)
        st = proxy.core.stats()
        assert st["workers"] == 2 and st["active_connections"] == 1
        assert set(st["accept_errors"]) == {"emfile", "other"}
        assert set(st["pipes"]) == {"pooled", "in_use"}
        assert st["service_ports"][SP] == {"connections": 1, "bytes_in": 3,
                                           "bytes_out": len(bs[0].tag) + 4,
                                           "connect_failures": 0, "retries": 0,
                                           "no_endpoint_resets": 0}
        assert st["endpoints"][100]["active"] == 1 and st["endpoints"][100]["inactive"] == 0
        assert st["pipe_failures"] == 0
        assert (st["rows_built"], st["frontend_tables_built"]) == (1, 1)
        assert set(st) == {"generation", "workers", "active_connections", "accept_errors",
                           "no_frontend_resets", "backend_socket_emfile", "pipe_failures",
                           "accepted_per_worker", "pipes", "rows_built", "frontend_tables_built",
                           "service_ports", "endpoints"}


def test_idle_timeout_closes_both_sides(tcp_backends):
    bs = tcp_backends(1)
    proxy = Proxy(idle_timeout=0.3)
    try:
        proxy.listen(1)
        proxy.apply(eps_of(bs))
        with proxy.connect() as c:
            read_line(c)
            t0 = time.monotonic()
            assert c.recv(1) == b""
            assert 0.25 < time.monotonic() - t0 < 3
    finally:
        proxy.close()
