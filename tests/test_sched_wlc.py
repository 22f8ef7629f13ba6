"""wlc: IPVS weighted least connections (ext/sched_wlc.pyx) against its twin, the overhead
divided by the live weight, and held connections spread by weight over real sockets."""
import pytest

from core_harness import read_line
from sched_twin import drive_against_twin, twin_cases
from lb import _core


@pytest.mark.parametrize("seed, options, affinity", twin_cases())
def test_wlc_matches_twin_on_random_sequences(seed, options, affinity):
    assert drive_against_twin("wlc", seed, options, affinity)[0] > 1000


@pytest.mark.parametrize("weights, counts, expected", [
    ((2, 1), ((2, 0), (1, 0)), 100),    # 512/2 = 256/1: a tie, the first in row order
    ((2, 1), ((3, 0), (1, 0)), 101),    # 768/2 > 256/1
    ((1, 4), ((1, 0), (3, 0)), 101),    # 256 > 768/4
    ((1, 4), ((0, 1), (3, 0)), 100),    # 1 < 192
])
def test_wlc_divides_the_overhead_by_the_weight(weights, counts, expected):
    s = _core.Scheduler("wlc", [(100 + i, f"10.1.0.{i + 1}", 80, w) for i, w in enumerate(weights)])
    for i, (active, inactive) in enumerate(counts):
        s.set_connections(100 + i, active, inactive)
    assert s.pick("10.9.9.9") == expected


def test_wlc_reads_weights_live_without_a_rebuild():
    s = _core.Scheduler("wlc", [(100, "10.1.0.1", 80, 1), (101, "10.1.0.2", 80, 1)])
    s.set_connections(100, 2, 0)
    s.set_connections(101, 1, 0)
    assert s.pick("10.9.9.9") == 101
    s.set_endpoint_state(100, 4)
    assert s.pick("10.9.9.9") == 100 and s.rows_reweighted == 0


def test_wlc_spreads_held_connections_by_weight(proxy, tcp_backends):
    a, b = tcp_backends(2)
    proxy.listen(1)
    proxy.apply([(100, a.ip, a.port, 2), (101, b.ip, b.port, 1)], scheduler="wlc")
    held = []
    for _ in range(9):                  # one at a time: each sees the last one established
        held.append(proxy.connect())
        read_line(held[-1])
    st = proxy.core.stats()["endpoints"]
    assert (st[100]["active"], st[101]["active"]) == (6, 3)
    for c in held:
        c.close()
