"""rr through the scheduler interface (ext/sched_rr.pyx behind _sched_pick, as workers call it)
against its twin, with retries, slow start and affinity; the cursor itself is compared in
tests/test_schedulers.py."""
import pytest

from sched_twin import both, drive_against_twin, endpoints, twin_cases


@pytest.mark.parametrize("seed, options, affinity", twin_cases())
def test_rr_matches_twin_on_random_sequences(seed, options, affinity):
    assert drive_against_twin("rr", seed, options, affinity)[0] > 1000


def test_rr_retry_skips_the_failed_endpoint_unless_it_is_the_only_one():
    c, py = both("rr", endpoints(3))
    assert [c.pick("10.9.9.9") for _ in range(3)] == [100, 101, 102]
    assert c.pick("10.9.9.9", failed_ep_id=101) == 102       # the one after the failed one
    # the retry was the same connection's turn: the cursor did not move
    assert [c.pick("10.9.9.9") for _ in range(2)] == [100, 101]
    assert c.pick("10.9.9.9", failed_ep_id=102) == 100       # wrapping
    c.set_endpoint_state(101, 0)
    c.set_endpoint_state(102, 0)
    assert c.pick("10.9.9.9", failed_ep_id=100) == 100
