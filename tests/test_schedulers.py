"""The core's scheduler functions (C, via test hooks) against lb/schedulers.py on random input."""
import random

import pytest

from lb import _core, schedulers

SEC = 1_000_000_000


def random_weights(rnd, n, p_zero):
    return [0 if rnd.random() < p_zero else rnd.randint(1, 5) for _ in range(n)]


@pytest.mark.parametrize("seed, p_zero", [
    (7, None),      # no weights: every endpoint eligible, counts change under the cursor
    (8, 0.0),       # weights given, all > 0
    (9, 0.3),       # some endpoints drained
    (10, 0.9),      # most drained, often none eligible
])
def test_round_robin_cursor_matches_twin(seed, p_zero):
    rnd = random.Random(seed)
    c, py = _core.RoundRobinCursor(), schedulers.RoundRobin()
    for step in range(5000):
        n = rnd.randint(1, 9)
        if p_zero is None:
            assert c.next(n) == py.next(n), step
        else:
            w = random_weights(rnd, n, p_zero)
            assert c.next(weights=w) == py.next(weights=w), step


@pytest.mark.parametrize("n, weights, expected", [
    (3, None, [0, 1, 2, 0, 1, 2, 0]),
    (3, [1, 0, 1], [0, 2, 0, 2, 0, 2, 0]),        # the one after a drained endpoint gets no extra turn
    (4, [0, 5, 0, 1], [1, 3, 1, 3, 1, 3, 1]),
    (2, [0, 0], [None] * 7),
])
def test_round_robin_cycles_over_eligible_endpoints_in_order(n, weights, expected):
    c = _core.RoundRobinCursor(n)
    assert [c.next(weights=weights) if weights else c.next() for _ in range(7)] == expected


def test_round_robin_rejects_zero_endpoints():
    with pytest.raises(ValueError):
        _core.RoundRobinCursor().next(0)


@pytest.mark.parametrize("seed, p_zero", [(s, None) for s in range(5)]          # all eligible
                                          + [(s, 0.25) for s in range(5, 8)])   # some drained
def test_affinity_table_matches_twin_on_random_sequences(seed, p_zero):
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
        w = None if p_zero is None else random_weights(rnd, len(eps), p_zero)
        client = rnd.choice(clients)
        reset = rnd.random() < 0.05
        assert c.pick(client, now, eps, reset, w) == py.pick(client, now, eps, reset, w), step
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


def test_affinity_moves_off_an_ineligible_endpoint_and_never_returns_one():
    t = _core.AffinityTable(60 * SEC)
    eps = [1, 2, 3]
    first = t.pick("10.1.1.1", 0, eps)
    drained = [0 if e == first else 1 for e in eps]
    moved = t.pick("10.1.1.1", 1, eps, weights=drained)
    assert moved != first
    assert t.pick("10.1.1.1", 2, eps) == moved       # the new entry sticks once first is back
    assert t.pick("10.2.2.2", 3, eps, weights=[0, 0, 0]) is None
    assert len(t) == 1                                # no entry recorded for nothing eligible


def test_ipv4_mapped_and_plain_ipv4_are_one_client():
    t = _core.AffinityTable(10 * SEC)
    a = t.pick("10.9.9.9", 0, [1, 2, 3])
    assert t.pick("::ffff:10.9.9.9", 1, [1, 2, 3]) == a
    assert len(t) == 1
