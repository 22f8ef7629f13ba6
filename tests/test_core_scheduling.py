"""lb._core scheduling over real sockets: round robin across workers, ClientIP affinity, retries
and connect timeouts, endpoint eligibility (weight 0) and set_endpoint_state, the registry."""
import socket
import threading
import time

import pytest

from conftest import wait_for
from core_harness import SP, Backend, Proxy, eps_of, read_line, refused_port, tag_of
from lb import _core


def test_round_robin_order_is_global_across_two_workers(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    got = [tag_of(proxy) for _ in range(6)]
    assert got == [b.tag for b in bs] * 2
    st = proxy.core.stats()
    assert [st["endpoints"][100 + i]["connections"] for i in range(3)] == [2, 2, 2]


def test_client_ip_affinity_sticks_until_timeout(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs), affinity=1.0)
    first = tag_of(proxy)
    for _ in range(4):
        assert tag_of(proxy) == first
    # another client IP does not share the entry
    assert tag_of(proxy, source=("127.0.0.9", 0)) != first
    last_use = time.monotonic()
    wait_for(lambda: time.monotonic() - last_use > 1.05, 3, "the affinity timeout to pass")
    assert tag_of(proxy) != first


def test_affinity_entry_is_replaced_when_its_endpoint_dies(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs), affinity=60)
    first = tag_of(proxy)
    dead = next(b for b in bs if b.tag == first)
    dead.close()
    second = tag_of(proxy)  # no client error: the core retries another endpoint
    assert second != first
    assert all(tag_of(proxy) == second for _ in range(3))
    st = proxy.core.stats()["service_ports"][SP]
    assert st["retries"] == 1 and st["connect_failures"] == 1


def test_affinity_moves_off_a_drained_endpoint(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs), affinity=60)
    first = tag_of(proxy)
    drained = next(100 + i for i, b in enumerate(bs) if b.tag == first)
    proxy.core.set_endpoint_state(drained, 0)
    second = tag_of(proxy)
    assert second != first
    proxy.core.set_endpoint_state(drained, 1)
    assert all(tag_of(proxy) == second for _ in range(3))    # the new entry sticks


def test_retry_when_an_endpoint_refuses(proxy, tcp_backends):
    bs = tcp_backends(2)
    proxy.listen(1)
    eps = [(100, bs[0].ip, bs[0].port), (101, "127.0.0.2", refused_port()), (102, bs[1].ip, bs[1].port)]
    proxy.apply(eps)
    got = [tag_of(proxy) for _ in range(9)]
    assert set(got) == {bs[0].tag, bs[1].tag}
    st = proxy.core.stats()
    assert st["service_ports"][SP]["retries"] == st["service_ports"][SP]["connect_failures"] >= 3
    assert st["endpoints"][101]["connect_failures"] >= 3
    assert st["endpoints"][101]["connections"] == 0


@pytest.mark.parametrize("scheduler", ["rr", "wrr"])
def test_a_retry_does_not_take_the_next_connections_turn(proxy, tcp_backends, scheduler):
    """[dead, live]: a retry moves on from the endpoint that failed without moving the
    round-robin cursor, so only every other connection starts on the dead one (when retries
    took a turn, every connection did: 20 of 20)."""
    (live,) = tcp_backends(1)
    proxy.listen(1)
    proxy.apply([(100, "127.0.0.2", refused_port()), (101, live.ip, live.port)], scheduler=scheduler)
    assert all(tag_of(proxy) == live.tag for _ in range(20))
    st = proxy.core.stats()
    assert st["endpoints"][100]["connect_failures"] == 10
    assert st["endpoints"][101]["connections"] == 20
    assert st["service_ports"][SP]["retries"] == 10


def test_connect_timeout_retries_next_endpoint():
    # a listener whose accept queue is full drops SYNs: connect to it times out
    proxy = Proxy(connect_timeouts=(0.2, 0.2, 0.2))
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
        proxy.listen(1)
        proxy.apply([(100, *blackhole.getsockname()), (101, good.ip, good.port)])
        t0 = time.monotonic()
        assert tag_of(proxy) == good.tag
        assert 0.15 < time.monotonic() - t0 < 2
        assert proxy.core.stats()["endpoints"][100]["connect_failures"] == 1
        good.close()
    finally:
        for s in fill:
            s.close()
        blackhole.close()
        proxy.close()


def test_reset_at_once_without_endpoints(proxy):
    proxy.listen(1)
    proxy.apply([])
    t0 = time.monotonic()
    with pytest.raises(ConnectionResetError):
        with proxy.connect() as c:
            c.recv(1)
    assert time.monotonic() - t0 < 1
    wait_for(lambda: proxy.core.stats()["service_ports"][SP]["no_endpoint_resets"] == 1, 10,
             "no_endpoint_resets == 1")


def test_reset_at_once_when_no_endpoint_is_eligible(proxy, tcp_backends):
    bs = tcp_backends(2)
    proxy.listen(1)
    proxy.apply([(100, bs[0].ip, bs[0].port, 0), (101, bs[1].ip, bs[1].port, 0)])
    t0 = time.monotonic()
    with pytest.raises(ConnectionResetError):
        with proxy.connect() as c:
            c.recv(1)
    assert time.monotonic() - t0 < 1
    wait_for(lambda: proxy.core.stats()["service_ports"][SP]["no_endpoint_resets"] == 1, 10,
             "no_endpoint_resets == 1")
    st = proxy.core.stats()
    assert st["service_ports"][SP]["connections"] == 0
    assert [b.accepted for b in bs] == [0, 0]
    assert set(st["endpoints"]) == {100, 101}      # still in the table, visible while draining


def test_reset_when_every_endpoint_refuses():
    proxy = Proxy(connect_timeouts=(0.25, 0.5))
    try:
        proxy.listen(1)
        proxy.apply([(100, "127.0.0.2", refused_port())])
        with pytest.raises(ConnectionResetError):
            with proxy.connect() as c:
                c.recv(1)
        st = proxy.core.stats()["service_ports"][SP]
        assert st["connect_failures"] == 2 and st["retries"] == 1
    finally:
        proxy.close()


def test_weight_zero_endpoint_gets_no_new_connections_while_its_live_one_continues(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    live = proxy.connect()
    assert read_line(live) == bs[0].tag
    proxy.apply([(100, bs[0].ip, bs[0].port, 0), (101, bs[1].ip, bs[1].port, 1),
                 (102, bs[2].ip, bs[2].port, 1)])
    assert {tag_of(proxy) for _ in range(6)} == {bs[1].tag, bs[2].tag}
    assert bs[0].accepted == 1
    live.sendall(b"still here")
    assert live.recv(100) == b"still here"
    st = proxy.core.stats()["endpoints"][100]
    assert st["active"] == 1 and st["connections"] == 1
    live.close()


def test_set_endpoint_state_takes_an_endpoint_out_of_rr_and_back_under_traffic(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    generation = proxy.apply(eps_of(bs))
    built = proxy.core.stats()["rows_built"]
    seen = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            seen.append(tag_of(proxy))

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        wait_for(lambda: len(seen) >= 10, 10, "traffic through all three endpoints")
        proxy.core.set_endpoint_state(101, 0)
        mark = len(seen) + 1        # one connection may have been picked before the store
        wait_for(lambda: len(seen) >= mark + 30, 10, "traffic with 101 out")
        assert bs[1].tag not in seen[mark:mark + 30]
        proxy.core.set_endpoint_state(101, 1)
        back = len(seen) + 1
        wait_for(lambda: bs[1].tag in seen[back:], 10, "101 picked again")
    finally:
        stop.set()
        t.join(10)
    st = proxy.core.stats()
    assert (st["generation"], st["rows_built"]) == (generation, built)   # no table was built
    assert st["service_ports"][SP]["connect_failures"] == 0


def test_set_endpoint_state_rejects_unknown_endpoints_and_negative_weights(proxy, tcp_backends):
    bs = tcp_backends(1)
    with pytest.raises(KeyError, match="100"):
        proxy.core.set_endpoint_state(100, 0)      # nothing applied yet
    proxy.apply(eps_of(bs))
    with pytest.raises(KeyError, match="999"):
        proxy.core.set_endpoint_state(999, 1)
    with pytest.raises(ValueError, match="weight"):
        proxy.core.set_endpoint_state(100, -1)
    proxy.apply([])
    with pytest.raises(KeyError):
        proxy.core.set_endpoint_state(100, 1)      # removed from the table


def test_unknown_scheduler_is_rejected_naming_the_supported_ones():
    core = _core.Core(workers=1)
    with pytest.raises(ValueError, match=r"scheduler 'nq' is not supported: "
                                         r"supported: rr, wrr, lc, wlc, sh, mh"):
        core.apply({"service_ports": [(1, "ns/web:http/TCP", "nq", 0, ())], "frontends": []})
    assert core.stats()["generation"] == 0
    assert core.apply({"service_ports": [(1, "ns/web:http/TCP", "rr", 0, ()),
                                         (2, "ns/api:http/TCP", "", 0, ())], "frontends": []}) == 1
