"""sh: source hashing with minimal moves (ext/sched_sh.pyx) against its twin, bucket shares,
which clients move on a change, hash_port, and clients kept over real sockets."""
from collections import Counter

import pytest

from core_harness import tag_of
from sched_twin import both, clients, drive_against_twin, endpoints, shares, twin_cases
from lb import _core

BUCKETS = 4096


@pytest.mark.parametrize("seed, options, affinity", twin_cases((), (("hash_port", True),)))
def test_sh_matches_twin_on_random_sequences(seed, options, affinity):
    answered, settled = drive_against_twin("sh", seed, options, affinity, steps=1500)
    assert answered > 500
    assert settled or "slow_start" not in dict(options)     # slow start's settled slots compared


@pytest.mark.parametrize("weights", [(1, 1, 1), (3, 1), (1, 2, 3, 4, 5), (1,) * 7, (5, 0, 5)])
def test_sh_buckets_follow_the_weights(weights):
    eps = [(100 + i, f"10.1.0.{i + 1}", 80, w) for i, w in enumerate(weights)]
    got = Counter(_core.Scheduler("sh", eps).slots())
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(got[100 + i] - BUCKETS * w / total) < 1      # largest remainder: off by < 1


def test_sh_spreads_clients_evenly():
    got = shares(_core.Scheduler("sh", endpoints(4)), 40_000)
    assert max(got.values()) / min(got.values()) < 1.08


def test_sh_moves_only_the_clients_of_a_removed_or_drained_endpoint():
    eps = endpoints(5)
    s = _core.Scheduler("sh", eps)
    addrs = clients(5000)
    before = {ip: s.pick(ip) for ip in addrs}
    s.apply([e for e in eps if e[0] != 102])
    after = {ip: s.pick(ip) for ip in addrs}
    moved = {ip for ip in addrs if before[ip] != after[ip]}
    assert moved == {ip for ip in addrs if before[ip] == 102}
    s.set_endpoint_state(103, 0)                                  # drained: the same
    drained = {ip: s.pick(ip) for ip in addrs}
    assert {ip for ip in addrs if drained[ip] != after[ip]} == {ip for ip in addrs if after[ip] == 103}


def test_sh_gives_an_added_endpoint_only_its_share_of_clients():
    s = _core.Scheduler("sh", endpoints(4))
    addrs = clients(8000)
    before = {ip: s.pick(ip) for ip in addrs}
    s.apply(endpoints(5))
    after = {ip: s.pick(ip) for ip in addrs}
    moved = [ip for ip in addrs if before[ip] != after[ip]]
    assert all(after[ip] == 104 for ip in moved)                 # only to the new one
    assert abs(len(moved) / len(addrs) - 1 / 5) < 0.02


def test_sh_hash_port_spreads_one_client_over_endpoints():
    plain, by_port = _core.Scheduler("sh", endpoints(4)), _core.Scheduler("sh", endpoints(4), (("hash_port", True),))
    assert len({plain.pick("10.9.9.9", port) for port in range(1024, 1124)}) == 1
    assert len({by_port.pick("10.9.9.9", port) for port in range(1024, 1124)}) == 4


def test_sh_retry_rehashes_away_from_the_failed_endpoint():
    c, py = both("sh", endpoints(3))
    first = c.pick("10.9.9.9")
    again = c.pick("10.9.9.9", failed_ep_id=first)
    assert again != first and again == py.pick("10.9.9.9", failed_ep_id=first)


def test_sh_keeps_a_client_on_its_endpoint_and_moves_only_a_removed_endpoints_clients(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    eps = [(100 + i, b.ip, b.port) for i, b in enumerate(bs)]
    proxy.apply(eps, scheduler="sh")
    sources = [f"127.0.1.{i}" for i in range(1, 31)]
    first = {src: tag_of(proxy, source=(src, 0)) for src in sources}
    assert len(set(first.values())) == 3
    assert all(tag_of(proxy, source=(src, 0)) == first[src] for src in sources for _ in range(2))
    proxy.apply(eps[:1] + eps[2:], scheduler="sh")                  # bs[1] leaves
    after = {src: tag_of(proxy, source=(src, 0)) for src in sources}
    for src in sources:
        if first[src] == bs[1].tag:
            assert after[src] != bs[1].tag
        else:
            assert after[src] == first[src]
