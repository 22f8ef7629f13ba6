"""lb._core tables over real sockets: applies during traffic, incremental applies (row and frontend
table reuse, seen through stats()), wildcard frontends."""
import socket
import threading

import pytest

from conftest import wait_for
from core_harness import SP, Proxy, eps_of, read_line, refused_port, tag_of


def built(proxy):
    st = proxy.core.stats()
    return st["rows_built"], st["frontend_tables_built"]


def test_wildcard_listener_routes_by_local_address(proxy, tcp_backends):
    b1, b2 = tcp_backends(2)
    _, port = proxy.listen(7, ip="0.0.0.0", wildcard=True)
    proxy.core.apply({
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


def test_apply_while_connections_are_live(proxy, tcp_backends):
    bs = tcp_backends(2)
    proxy.listen(1)
    g1 = proxy.apply(eps_of(bs))
    live = proxy.connect()
    assert read_line(live) == bs[0].tag
    g2 = proxy.apply([(101, bs[1].ip, bs[1].port)])  # endpoint 100 removed
    assert g2 == g1 + 1
    live.sendall(b"still here")
    assert live.recv(100) == b"still here"
    assert [tag_of(proxy) for _ in range(5)] == [bs[1].tag] * 5
    assert bs[0].accepted == 1
    st = proxy.core.stats()
    assert st["generation"] == g2
    assert st["endpoints"][100]["active"] == 1  # its live connection is still counted
    live.close()
    wait_for(lambda: 100 not in proxy.core.stats()["endpoints"], 10, "endpoint 100 to be freed")


def test_many_applies_during_traffic_break_nothing(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    stop = threading.Event()
    applied = [0]

    def reload():
        sets = [eps_of(bs), eps_of(bs[1:], 101), eps_of(bs[:1]), [(102, bs[2].ip, bs[2].port)]]
        while not stop.is_set() and applied[0] < 2000:
            proxy.apply(sets[applied[0] % len(sets)])
            applied[0] += 1

    t = threading.Thread(target=reload, daemon=True)
    t.start()
    try:
        for i in range(300):
            with proxy.connect() as c:
                assert read_line(c) in {b.tag for b in bs}
                c.sendall(b"%d" % i)
                assert c.recv(10) == b"%d" % i
    finally:
        stop.set()
        t.join(10)
    assert applied[0] > 10
    st = proxy.core.stats()
    assert st["generation"] == applied[0] + 1
    assert sum(st["service_ports"][SP][k] for k in ("connect_failures", "no_endpoint_resets")) == 0


def three_services(bs, web_port=None):
    """Three service ports on listeners 1..3; web_port changes service port 1's only endpoint."""
    return {
        "service_ports": [(1, "ns/web:http/TCP", "rr", 0, ((100, bs[0].ip, web_port or bs[0].port, 1),)),
                          (2, "ns/api:http/TCP", "rr", 0, ((101, bs[1].ip, bs[1].port, 1),)),
                          (3, "ns/db:sql/TCP", "rr", 0, ((102, bs[2].ip, bs[2].port, 1),))],
        "frontends": [(1, "", 0, 1), (2, "", 0, 2), (3, "", 0, 3)],
    }


def test_identical_apply_builds_no_rows_and_shares_the_frontend_table(proxy, tcp_backends):
    bs = tcp_backends(3)
    for lid in (1, 2, 3):
        proxy.listen(lid)
    proxy.core.apply(three_services(bs))
    assert built(proxy) == (3, 1)
    proxy.core.apply(three_services(bs))            # equal, not the same objects
    assert built(proxy) == (3, 1)
    assert [tag_of(proxy, lid=lid) for lid in (1, 2, 3)] == [b.tag for b in bs]


def test_apply_with_one_changed_service_port_builds_one_row(proxy, tcp_backends):
    bs = tcp_backends(4)
    for lid in (1, 2, 3):
        proxy.listen(lid)
    proxy.core.apply(three_services(bs))
    live = proxy.connect(lid=2)
    assert read_line(live) == bs[1].tag
    proxy.core.apply(three_services(bs, web_port=bs[3].port))     # 127.0.0.2 has no server there
    assert built(proxy) == (4, 1)                   # one row built, the frontend table reused
    live.sendall(b"unchanged row")
    assert live.recv(100) == b"unchanged row"
    assert [tag_of(proxy, lid=lid) for lid in (2, 3)] == [bs[1].tag, bs[2].tag]
    live.close()


def test_changed_frontends_rebuild_only_the_frontend_table(proxy, tcp_backends):
    bs = tcp_backends(3)
    for lid in (1, 2, 3):
        proxy.listen(lid)
    table = three_services(bs)
    proxy.core.apply(table)
    table["frontends"] = [(1, "", 0, 3), (2, "", 0, 2), (3, "", 0, 1)]    # 1 and 3 swap services
    proxy.core.apply(table)
    assert built(proxy) == (3, 2)
    assert [tag_of(proxy, lid=lid) for lid in (1, 2, 3)] == [bs[2].tag, bs[1].tag, bs[0].tag]


def test_rejected_apply_publishes_and_builds_nothing(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    generation = proxy.apply(eps_of(bs[:1]))
    before = built(proxy)
    bad = Proxy.table(eps_of(bs), extra=[(11, "ns/bad:http/TCP", "rr", 0, ((200, "nope", 80, 1),))])
    with pytest.raises(ValueError, match="not an IP"):
        proxy.core.apply(bad)
    assert proxy.core.stats()["generation"] == generation
    assert built(proxy) == before
    assert set(proxy.core.stats()["endpoints"]) == {100}
    assert [tag_of(proxy) for _ in range(3)] == [bs[0].tag] * 3


def test_round_robin_position_carries_over_a_rebuilt_row(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    assert tag_of(proxy) == bs[0].tag
    renamed = Proxy.table(eps_of(bs))
    renamed["service_ports"] = [(SP, "test/svc:renamed/TCP") + renamed["service_ports"][0][2:]]
    proxy.core.apply(renamed)
    assert built(proxy)[0] == 2
    assert [tag_of(proxy) for _ in range(3)] == [bs[1].tag, bs[2].tag, bs[0].tag]


def test_apply_sets_weights_from_the_table(proxy, tcp_backends):
    bs = tcp_backends(2)
    proxy.listen(1)
    proxy.apply(eps_of(bs))
    proxy.core.set_endpoint_state(101, 0)
    assert {tag_of(proxy) for _ in range(4)} == {bs[0].tag}
    proxy.apply(eps_of(bs))             # the row is reused, its weights still rule
    assert built(proxy)[0] == 1
    assert {tag_of(proxy) for _ in range(4)} == {bs[0].tag, bs[1].tag}


def test_rows_given_as_lists_are_rebuilt_every_apply(proxy, tcp_backends):
    bs = tcp_backends(1)
    proxy.listen(1)
    row = [SP, "test/svc:p/TCP", "rr", 0, [[100, bs[0].ip, bs[0].port, 1]]]
    table = {"service_ports": [row], "frontends": [(1, "", 0, SP)]}
    proxy.core.apply(table)
    row[4][0][2] = refused_port()               # mutated in place
    proxy.core.apply(table)
    assert built(proxy)[0] == 2                 # never trusted for reuse
    with pytest.raises(ConnectionResetError):
        with proxy.connect() as c:              # the new port refuses: the mutation took effect
            c.recv(1)
