"""The core's scheduler functions (C, via test hooks) against lb/schedulers.py on random input."""
import random

import pytest

from lb import _core, schedulers

SEC = 1_000_000_000


def test_round_robin_cursor_matches_twin_with_changing_endpoint_counts():
    rnd = random.Random(7)
    c, py = _core.RoundRobinCursor(), schedulers.RoundRobin()
    for _ in range(5000):
        n = rnd.randint(1, 9)
        assert c.next(n) == py.next(n)


def test_round_robin_cycles_in_order():
    c = _core.RoundRobinCursor(3)
    assert [c.next() for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_round_robin_rejects_zero_endpoints():
    with pytest.raises(ValueError):
        _core.RoundRobinCursor().next(0)


@pytest.mark.parametrize("seed", range(5))
def test_affinity_table_matches_twin_on_random_sequences(seed):
    rnd = random.Random(seed)
    timeout = rnd.choice([1, 3, 10]) * SEC
    c, py = _core.AffinityTable(timeout), schedulers.AffinityTable(timeout)
    clients = [f"10.0.{rnd.randint(0, 3)}.{rnd.randint(1, 40)}" for _ in range(30)]
    clients += ["2001:db8::%x" % rnd.randint(1, 50) for _ in range(10)]
    clients += ["::ffff:10.0.0.%d" % rnd.randint(1, 40) for _ in range(5)]
    pool = list(range(100, 108))
    now = 0
    for step in range(4000):
        now += rnd.randint(0, SEC // 2)
        op = rnd.random()
        if op < 0.05:
            c.reap(now)
            py.reap(now)
            assert len(c) == len(py)
            continue
        eps = sorted(rnd.sample(pool, rnd.randint(0, 5))) if op < 0.15 else pool[:4]
        client = rnd.choice(clients)
        reset = rnd.random() < 0.05
        assert c.pick(client, now, eps, reset) == py.pick(client, now, eps, reset), step
    assert len(c) == len(py)


def test_affinity_sticks_expires_and_is_replaced_when_endpoint_leaves():
    t = _core.AffinityTable(2 * SEC)
    first = t.pick("10.1.1.1", 0, [1, 2, 3])
    assert all(t.pick("10.1.1.1", k * SEC, [1, 2, 3]) == first for k in range(1, 6))
    other = t.pick("10.1.1.1", 8 * SEC, [1, 2, 3])  # expired: next rr endpoint
    assert other != first
    remaining = [e for e in (1, 2, 3) if e != other]
    assert t.pick("10.1.1.1", 8 * SEC + 1, remaining) in remaining
    t.reap(100 * SEC)
    assert len(t) == 0


def test_ipv4_mapped_and_plain_ipv4_are_one_client():
    t = _core.AffinityTable(10 * SEC)
    a = t.pick("10.9.9.9", 0, [1, 2, 3])
    assert t.pick("::ffff:10.9.9.9", 1, [1, 2, 3]) == a
    assert len(t) == 1
