"""Slow start (ext/sched_slowstart.pyx, in the dispatcher for every scheduler): when a ramp
starts, that it is linear, that hashing schedulers move each client at most once, that it never
leaves a client without an endpoint, and a freshly re-enabled endpoint over real sockets."""
from collections import Counter

import pytest

from core_harness import eps_of, tag_of
from sched_twin import SEC, clients, endpoints
from lb import _core

SLOW = (("slow_start", 10),)


# the share of a re-enabled endpoint (one of 4, least loaded for lc/wlc) f of the way through
# its slow start: rr and wrr spend a cursor turn on each turned-away pick, so f acts as a weight
# (nginx's scaled weight); the hashes and lc take a turned-away client elsewhere
RAMP_SHARE = {"rr": lambda f: f / (3 + f), "wrr": lambda f: f / (3 + f),
              "sh": lambda f: f / 4, "mh": lambda f: f / 4, "lc": lambda f: f, "wlc": lambda f: f}


@pytest.mark.parametrize("name", sorted(RAMP_SHARE))
def test_a_re_enabled_endpoints_share_ramps_up_with_time(name):
    s = _core.Scheduler(name, endpoints(4), SLOW, now_ns=SEC)
    for ep_id in (100, 101, 102):
        s.set_connections(ep_id, 5, 0)
    s.set_endpoint_state(103, 0, now_ns=2 * SEC)
    s.set_endpoint_state(103, 1, now_ns=3 * SEC)              # the ramp starts here
    addrs = clients(8000)
    for elapsed in (0, 2.5, 5, 7.5, 10, 20):
        now = 3 * SEC + int(elapsed * SEC)
        got = Counter(s.pick(ip, 1024 + i, now_ns=now + i) for i, ip in enumerate(addrs))
        share = got[103] / len(addrs)
        assert abs(share - RAMP_SHARE[name](min(elapsed / 10, 1))) < 0.02, (elapsed, share)
        assert None not in got


def test_hashed_clients_move_to_a_ramping_endpoint_once_and_stay():
    s = _core.Scheduler("mh", endpoints(4), SLOW + (("mh_table_size", 4099),), now_ns=SEC)
    s.set_endpoint_state(102, 0, now_ns=SEC)
    addrs = clients(4000)
    before = {ip: s.pick(ip) for ip in addrs}
    s.set_endpoint_state(102, 1, now_ns=2 * SEC)
    owned = set()
    for k in range(11):
        now = 2 * SEC + k * SEC
        now_owned = {ip for ip in addrs if s.pick(ip, now_ns=now) == 102}
        assert owned <= now_owned                       # admitted clients only grow
        owned = now_owned
        moved = {ip for ip in addrs if s.pick(ip, now_ns=now) not in (before[ip], 102)}
        assert len(moved) < 0.02 * len(addrs)           # nobody else wanders
    full = _core.Scheduler("mh", endpoints(4), (("mh_table_size", 4099),))
    assert owned == {ip for ip in addrs if full.pick(ip) == 102}


def test_slow_start_never_leaves_a_client_without_an_endpoint():
    s = _core.Scheduler("rr", endpoints(3), SLOW, now_ns=SEC)
    for ep_id in (100, 101, 102):
        s.set_endpoint_state(ep_id, 0, now_ns=SEC)
        s.set_endpoint_state(ep_id, 1, now_ns=2 * SEC)  # all ramping, at 0 %
    assert None not in {s.pick(ip, now_ns=2 * SEC) for ip in clients(300)}


def test_which_endpoints_start_a_ramp():
    s = _core.Scheduler("rr", endpoints(2), SLOW, now_ns=SEC)   # a new service port: none
    assert Counter(s.pick("10.9.9.9", now_ns=SEC + i) for i in range(100)) == {100: 50, 101: 50}
    s.apply(endpoints(3), SLOW, now_ns=2 * SEC)                   # joins a serving port: ramps
    assert Counter(s.pick("10.9.9.9", now_ns=2 * SEC + i) for i in range(300))[102] == 0
    s.apply(endpoints(2) + [(102, "10.1.0.3", 80, 0)], SLOW, now_ns=20 * SEC)
    s.apply(endpoints(3), SLOW, now_ns=30 * SEC)                  # weight 0 -> 1 by apply: ramps
    assert Counter(s.pick("10.9.9.9", now_ns=30 * SEC + i) for i in range(300))[102] == 0
    assert Counter(s.pick("10.9.9.9", now_ns=45 * SEC + i) for i in range(300))[102] == 100


def test_a_re_enabled_endpoint_gets_no_connections_at_the_start_of_its_slow_start(proxy, tcp_backends):
    bs = tcp_backends(3)
    proxy.listen(1)
    proxy.apply(eps_of(bs), options=(("slow_start", 86400),))
    assert {tag_of(proxy) for _ in range(6)} == {b.tag for b in bs}
    proxy.core.set_endpoint_state(101, 0)
    proxy.core.set_endpoint_state(101, 1)
    got = Counter(tag_of(proxy) for _ in range(30))
    assert got[bs[1].tag] == 0 and got[bs[0].tag] + got[bs[2].tag] == 30
