"""mh: Maglev consistent hashing (ext/sched_mh.pyx) against its twin; agreement between nodes
whatever the endpoint order and ids, disruption, balance, weights, the eligible-only table and
its rebuild by set_endpoint_state, in the hook and over real sockets."""
import random
from collections import Counter

import pytest

from core_harness import SP, tag_of
from sched_twin import both, clients, drive_against_twin, endpoints, shares, twin_cases
from lb import _core, schedulers

SMALL = (("mh_table_size", 251),)


@pytest.mark.parametrize("seed, options, affinity", twin_cases(SMALL, (("hash_port", True),)))
def test_mh_matches_twin_on_random_sequences(seed, options, affinity):
    answered, settled = drive_against_twin("mh", seed, options, affinity, steps=1500)
    assert answered > 500
    assert settled or "slow_start" not in dict(options)     # slow start's settled slots compared


@pytest.mark.parametrize("n, options", [(3, ()), (10, ()), (40, (("mh_table_size", 4099),))])
def test_mh_table_matches_twin_and_gives_each_endpoint_its_turns(n, options):
    c, py = both("mh", endpoints(n), options)
    assert c.slots() == py.slots()
    size = dict(options).get("mh_table_size", 65537)
    assert len(c.slots()) == size
    assert set(Counter(c.slots()).values()) <= {size // n, size // n + 1}


def test_two_nodes_agree_whatever_the_endpoint_order_and_ids():
    eps = endpoints(10)
    other = [(900 + i, ip, port, w) for i, (_, ip, port, w) in enumerate(reversed(eps))]
    random.Random(1).shuffle(other)
    a, b = _core.Scheduler("mh", eps), _core.Scheduler("mh", other)
    addr_a = {e[0]: (e[1], e[2]) for e in eps}
    addr_b = {e[0]: (e[1], e[2]) for e in other}
    assert all(addr_a[a.pick(ip)] == addr_b[b.pick(ip)] for ip in clients(10_000))


def test_ipv6_and_ipv4_mapped_endpoints_are_named_as_inet_ntop_writes_them():
    eps = [(1, "2001:DB8::1", 80, 1), (2, "::ffff:10.0.0.1", 80, 1), (3, "fe80::", 443, 1),
           (4, "::1.2.3.4", 80, 1), (5, "10.0.0.2", 8080, 1)]
    c, py = both("mh", eps, SMALL)
    assert c.slots() == py.slots()
    assert schedulers.hashing.endpoint_name("::ffff:10.0.0.1", 80) == "10.0.0.1:80"


def test_removing_one_of_ten_endpoints_moves_few_other_clients():
    eps = endpoints(10)
    s = _core.Scheduler("mh", eps)
    addrs = clients(20_000)
    before = {ip: s.pick(ip) for ip in addrs}
    s.apply(eps[:4] + eps[5:])
    moved = sum(before[ip] != s.pick(ip) for ip in addrs) / len(addrs)
    assert all(s.pick(ip) != 104 for ip in addrs[:1000])
    assert moved <= 1 / 10 + 0.02


def test_mh_balances_clients():
    got = shares(_core.Scheduler("mh", endpoints(10)), 50_000)
    mean = 50_000 / 10
    assert max(got.values()) / mean < 1.06


def test_mh_weights_are_repeated_turns():
    got = Counter(_core.Scheduler("mh", [(1, "10.1.0.1", 80, 3), (2, "10.1.0.2", 80, 1)]).slots())
    assert abs(got[1] / got[2] - 3) < 0.01
    huge = Counter(_core.Scheduler("mh", [(1, "10.1.0.1", 80, 10**9), (2, "10.1.0.2", 80, 1)]).slots())
    assert huge[2] >= 1 and huge[1] > 200 * huge[2]     # scaled to at most 256 turns, not dropped


def test_mh_table_holds_eligible_endpoints_only_and_set_endpoint_state_rebuilds_it():
    eps = endpoints(4)
    s = _core.Scheduler("mh", eps[:3] + [(103, eps[3][1], eps[3][2], 0)])
    assert set(s.slots()) == {100, 101, 102}            # weight 0 at apply: not in the table
    full = _core.Scheduler("mh", eps).slots()
    s.set_endpoint_state(103, 1)
    assert s.slots() == full and s.rows_reweighted == 1
    s.set_endpoint_state(101, 0)                        # drained: its slots go to the others
    assert 101 not in s.slots()
    assert s.slots() == _core.Scheduler("mh", eps[:1] + eps[2:]).slots()
    s.set_endpoint_state(101, 1)
    assert s.slots() == full and s.rows_reweighted == 3


def test_mh_retry_avoids_the_failed_endpoint_and_a_stale_table_falls_back():
    c, py = both("mh", endpoints(3), SMALL)
    first = c.pick("10.9.9.9")
    assert c.pick("10.9.9.9", failed_ep_id=first) == py.pick("10.9.9.9", failed_ep_id=first) != first


def test_mh_keeps_clients_and_moves_only_what_the_new_table_says(proxy, tcp_backends):
    bs = tcp_backends(4)
    proxy.listen(1)
    eps = [(100 + i, b.ip, b.port, 1) for i, b in enumerate(bs)]
    tag = {100 + i: b.tag for i, b in enumerate(bs)}
    proxy.apply(eps, scheduler="mh")
    sources = [f"127.0.1.{i}" for i in range(1, 41)]
    twin = schedulers.Scheduler("mh", eps)
    first = {src: tag_of(proxy, source=(src, 0)) for src in sources}
    assert first == {src: tag[twin.pick(src)] for src in sources}
    assert all(tag_of(proxy, source=(src, 0)) == first[src] for src in sources)
    proxy.apply(eps[:2] + eps[3:], scheduler="mh")       # bs[2] leaves
    twin.apply(eps[:2] + eps[3:])
    after = {src: tag_of(proxy, source=(src, 0)) for src in sources}
    assert after == {src: tag[twin.pick(src)] for src in sources}
    assert all(after[src] != bs[2].tag for src in sources)
    stayed = [src for src in sources if first[src] != bs[2].tag]
    assert sum(after[src] == first[src] for src in stayed) >= 0.9 * len(stayed)


def test_set_endpoint_state_republishes_the_mh_row_for_the_workers(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    eps = [(100 + i, b.ip, b.port, 1) for i, b in enumerate(bs)]
    tag = {100 + i: b.tag for i, b in enumerate(bs)}
    generation = proxy.apply(eps, scheduler="mh", options=SMALL)
    built = proxy.core.stats()["rows_built"]
    sources = [f"127.0.1.{i}" for i in range(1, 31)]
    twin = schedulers.Scheduler("mh", eps, SMALL)
    first = {src: tag_of(proxy, source=(src, 0)) for src in sources}
    proxy.core.set_endpoint_state(101, 0)
    twin.set_endpoint_state(101, 0)
    drained = {src: tag_of(proxy, source=(src, 0)) for src in sources}
    # the table without 101, not a rehash of 101's clients over the old table
    assert drained == {src: tag[twin.pick(src)] for src in sources}
    assert twin.slots() == _core.Scheduler("mh", eps[:1] + eps[2:], SMALL).slots()
    assert bs[1].tag not in drained.values()
    proxy.core.set_endpoint_state(101, 1)
    assert {src: tag_of(proxy, source=(src, 0)) for src in sources} == first
    st = proxy.core.stats()
    assert (st["generation"], st["rows_built"]) == (generation, built)
    assert st["service_ports"][SP]["no_endpoint_resets"] == 0
