"""lc: IPVS least connections from the core's own counts (ext/sched_lc.pyx) against its twin,
the overhead formula, and new connections going to the less loaded endpoint over real sockets."""
import pytest

from conftest import wait_for
from core_harness import read_line
from sched_twin import drive_against_twin, endpoints, twin_cases
from lb import _core


@pytest.mark.parametrize("seed, options, affinity", twin_cases())
def test_lc_matches_twin_on_random_sequences(seed, options, affinity):
    assert drive_against_twin("lc", seed, options, affinity)[0] > 1000


@pytest.mark.parametrize("b_counts, expected", [
    ((0, 255), 101),        # 255 connecting < one established (256)
    ((0, 256), 100),        # a tie: the first in row order
    ((0, 257), 100),
    ((1, 0), 100),
])
def test_lc_overhead_is_active_times_256_plus_inactive(b_counts, expected):
    s = _core.Scheduler("lc", endpoints(2))
    s.set_connections(100, 1, 0)
    s.set_connections(101, *b_counts)
    assert s.pick("10.9.9.9") == expected


def test_lc_ignores_weights_above_zero_and_skips_ineligible_and_failed_endpoints():
    s = _core.Scheduler("lc", [(100, "10.1.0.1", 80, 1), (101, "10.1.0.2", 80, 50),
                               (102, "10.1.0.3", 80, 1)])
    for ep_id, active in ((100, 3), (101, 2), (102, 1)):
        s.set_connections(ep_id, active, 0)
    assert s.pick("10.9.9.9") == 102
    assert s.pick("10.9.9.9", failed_ep_id=102) == 101
    s.set_endpoint_state(102, 0)
    assert s.pick("10.9.9.9") == 101
    s.set_endpoint_state(100, 0)
    s.set_endpoint_state(101, 0)
    assert s.pick("10.9.9.9") is None
    s.set_endpoint_state(101, 1)
    assert s.pick("10.9.9.9", failed_ep_id=101) == 101     # the only one: retried all the same


def test_lc_sends_new_connections_to_the_endpoint_with_fewer_live_connections(proxy, tcp_backends):
    a, b = tcp_backends(2)
    proxy.listen(1)
    proxy.apply([(100, a.ip, a.port)])                  # rr over a alone: three stay open on a
    held = [proxy.connect() for _ in range(3)]
    assert [read_line(c) for c in held] == [a.tag] * 3
    proxy.apply([(100, a.ip, a.port), (101, b.ip, b.port)], scheduler="lc")
    on_b = [proxy.connect() for _ in range(3)]
    assert [read_line(c) for c in on_b] == [b.tag] * 3   # b had none
    c = proxy.connect()
    assert read_line(c) == a.tag                         # 3 and 3: the first in row order
    held.append(c)
    for c in on_b[:2]:
        c.close()
    wait_for(lambda: proxy.core.stats()["endpoints"][101]["active"]
             + proxy.core.stats()["endpoints"][101]["inactive"] == 1, 10, "two of b's closed")
    more = [proxy.connect() for _ in range(2)]
    assert [read_line(c) for c in more] == [b.tag] * 2
    st = proxy.core.stats()["endpoints"]
    assert (st[100]["active"], st[101]["active"]) == (4, 3)
    for c in held + on_b[2:] + more:
        c.close()
