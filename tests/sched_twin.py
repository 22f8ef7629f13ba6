"""Helpers of the scheduler tests (tests/test_sched_*.py): drive the C hook lb._core.Scheduler
and its twin lb.schedulers.Scheduler with the same random operations and compare every answer,
and make endpoint and client sets."""
import random
from collections import Counter

from lb import _core, schedulers

SEC = 1_000_000_000


def endpoints(n, first=100, weight=1, port=80):
    """n endpoints (ep_id, ip, port, weight) on 10.1.x.y."""
    return [(first + i, f"10.1.{i // 250}.{i % 250 + 1}", port, weight) for i in range(n)]


def clients(n, first=0):
    """n distinct client addresses in 172.16.0.0/12, from the first-th on."""
    return [f"172.{16 + (i >> 16)}.{i >> 8 & 255}.{i & 255}" for i in range(first, first + n)]


def twin_cases(base=(), extra=()):
    """(seed, options, affinity_timeout) for drive_against_twin: the row's base options alone,
    with extra, with slow start, under ClientIP affinity, and slow start under affinity."""
    slow = base + (("slow_start", 0.5),)
    return [(1, base, 0.0), (2, base, 0.0), (3, base + extra, 0.0), (4, slow, 0.0),
            (5, base, 0.3), (6, slow, 0.3)]


def both(name, eps, options=(), affinity_timeout=0.0, now_ns=1):
    """The C hook and the twin, built alike."""
    return (_core.Scheduler(name, eps, options, affinity_timeout, now_ns),
            schedulers.Scheduler(name, eps, options, affinity_timeout, now_ns))


def drive_against_twin(name, seed, options=(), affinity_timeout=0.0, steps=3000):
    """Random applies (endpoints joining, leaving, changing weight, or none), set_endpoint_state,
    connection counts and picks (some retries after a failure) on the hook and the twin; every
    pick and every slot table must be the same. Returns how many picks named an endpoint."""
    rnd = random.Random(seed)
    pool = [(100 + i, f"10.0.{i // 200}.{i % 200 + 1}", 80 + i % 3) for i in range(12)]

    def some_endpoints():
        return [(e[0], e[1], e[2], rnd.choice([0, 1, 1, 2, 3, 5]))
                for e in sorted(rnd.sample(pool, rnd.randint(0, 8)))]

    now = 10
    eps = some_endpoints()
    c, py = both(name, eps, options, affinity_timeout, now)
    addrs = [f"192.168.{rnd.randint(0, 3)}.{rnd.randint(1, 50)}" for _ in range(30)]
    addrs += ["2001:db8::%x" % rnd.randint(1, 50) for _ in range(10)]
    answered = settled = 0
    for step in range(steps):
        now += rnd.randint(0, SEC // 10)
        op = rnd.random()
        if op < 0.03:
            if op < 0.02:       # else the same row again: reused, or rebuilt from its weights
                eps = some_endpoints()
            c.apply(eps, options, now)
            py.apply(eps, options, now)
            assert (c.slots(), c.slots(True)) == (py.slots(), py.slots(True)), (step, "apply")
        elif op < 0.08 and eps:
            ep_id, w = rnd.choice(eps)[0], rnd.choice([0, 0, 1, 2, 4])
            c.set_endpoint_state(ep_id, w, now)
            py.set_endpoint_state(ep_id, w, now)
            assert (c.slots(), c.slots(True)) == (py.slots(), py.slots(True)), (step, "reweight")
            settled += c.slots(True) is not None
        elif op < 0.12 and eps:
            ep_id, active, inactive = rnd.choice(eps)[0], rnd.randint(0, 5), rnd.randint(0, 5)
            c.set_connections(ep_id, active, inactive)
            py.set_connections(ep_id, active, inactive)
        else:
            client, port = rnd.choice(addrs), rnd.randint(1024, 65535)
            failed = rnd.choice(eps)[0] if eps and rnd.random() < 0.1 else None
            got = c.pick(client, port, now, failed)
            assert got == py.pick(client, port, now, failed), (step, client, port, failed)
            answered += got is not None
    return answered, settled


def shares(sched, n, **kw):
    """Counter of ep_ids over n picks by distinct clients (ports varying)."""
    return Counter(sched.pick(ip, 1024 + i % 60000, **kw) for i, ip in enumerate(clients(n)))
