"""wrr: nginx's smooth weighted round robin (ext/sched_wrr.pyx) against its twin, its order and
shares, its rebuild on weight changes, and 3:1 over real connections."""
from collections import Counter

import pytest

from conftest import wait_for
from core_harness import SP, tag_of
from sched_twin import both, drive_against_twin, endpoints, twin_cases
from lb import _core, schedulers


@pytest.mark.parametrize("seed, options, affinity", twin_cases())
def test_wrr_matches_twin_on_random_sequences(seed, options, affinity):
    assert drive_against_twin("wrr", seed, options, affinity)[0] > 1000


@pytest.mark.parametrize("weights, order", [
    ((5, 1, 1), "aabacaa"),             # nginx's example: a's turns spread out
    ((1, 1, 1), "abc"),
    ((6, 2, 2), "abaca"),               # divided by the gcd: the period of 3, 1, 1
    ((3, 0, 1), "aaca"),                # weight 0 gets no turn
    ((2, 3), "babab"),
])
def test_wrr_order_is_smooth_over_one_period(weights, order):
    eps = [(100 + i, f"10.1.0.{i + 1}", 80, w) for i, w in enumerate(weights)]
    s = _core.Scheduler("wrr", eps)
    letters = {100 + i: "abc"[i] for i in range(len(weights))}
    assert "".join(letters[e] for e in s.slots()) == order
    assert "".join(letters[s.pick("10.9.9.9")] for _ in range(2 * len(order))) == order * 2


@pytest.mark.parametrize("weights", [(1,), (3, 1), (1, 2, 3, 4), (100, 1), (7, 0, 5)])
def test_wrr_shares_are_exact_over_whole_periods(weights):
    eps = [(100 + i, f"10.1.0.{i + 1}", 80, w) for i, w in enumerate(weights)]
    s = _core.Scheduler("wrr", eps)
    got = Counter(s.pick("10.9.9.9") for _ in range(10 * sum(weights)))
    assert got == Counter({100 + i: 10 * w for i, w in enumerate(weights) if w})


def test_wrr_scales_weight_sums_past_the_sequence_cap():
    eps = [(1, "10.1.0.1", 80, 1_000_000), (2, "10.1.0.2", 80, 3_000_000), (3, "10.1.0.3", 80, 1)]
    c, py = both("wrr", eps)
    assert c.slots() == py.slots()
    got = Counter(c.slots())
    assert len(c.slots()) <= schedulers.wrr.WRR_MAX_SEQ + 3
    assert got[3] == 1 and abs(got[2] / got[1] - 3) < 0.01


def test_wrr_sequence_is_rebuilt_when_set_endpoint_state_changes_a_weight():
    s = _core.Scheduler("wrr", endpoints(3))
    assert sorted(Counter(s.slots()).values()) == [1, 1, 1]
    s.set_endpoint_state(101, 3)
    assert Counter(s.slots()) == {100: 1, 101: 3, 102: 1} and s.rows_reweighted == 1
    s.set_endpoint_state(100, 0)
    assert Counter(s.slots()) == {101: 3, 102: 1} and s.rows_reweighted == 2
    s.set_endpoint_state(100, 0)                    # no change: nothing rebuilt
    assert s.rows_reweighted == 2
    s.apply(endpoints(3))                           # the table's weights again
    assert sorted(Counter(s.slots()).values()) == [1, 1, 1] and s.rows_reweighted == 3


def test_wrr_honours_weights_3_to_1_over_400_connections(proxy, tcp_backends):
    bs = tcp_backends(2)
    proxy.listen(1)
    proxy.apply([(100, bs[0].ip, bs[0].port, 3), (101, bs[1].ip, bs[1].port, 1)], scheduler="wrr")
    got = Counter(tag_of(proxy) for _ in range(400))
    assert got == {bs[0].tag: 300, bs[1].tag: 100}
    wait_for(lambda: proxy.core.stats()["service_ports"][SP]["connections"] == 400, 10,
             "400 connections counted")
    st = proxy.core.stats()["endpoints"]
    assert (st[100]["connections"], st[101]["connections"]) == (300, 100)
