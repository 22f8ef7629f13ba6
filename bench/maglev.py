"""Maglev (the mh scheduler, ext/sched_mh.pyx) measured through lb._core.Scheduler, the code the
workers run: agreement between two nodes, disruption, balance, build and pick times.

    .venv/bin/python bench/maglev.py [--size 65537] [--seed 1]

Two Scheduler objects stand for two lb nodes: each has its own tables, and they are given the
same endpoints in different orders under different ep_ids, as independent control planes would.
"""
import argparse
import random
import statistics
from collections import Counter

import sched_picks      # bench/, next to this file
from lb import _core


def endpoints(n):
    return sched_picks.endpoints(n, weight=lambda i: 1)


def client_ips(n, seed):
    rnd = random.Random(seed)
    return [".".join(str(b) for b in rnd.getrandbits(32).to_bytes(4, "big")) for _ in range(n)]


def agreement(options, ips, seed):
    eps = endpoints(10)
    other = [(5000 + i, ip, port, w) for i, (_, ip, port, w) in enumerate(eps)]
    random.Random(seed).shuffle(other)
    a, b = _core.Scheduler("mh", eps, options), _core.Scheduler("mh", other, options)
    addr_a = {e[0]: e[1:3] for e in eps}
    addr_b = {e[0]: e[1:3] for e in other}
    same = sum(addr_a[a.pick(ip)] == addr_b[b.pick(ip)] for ip in ips)
    return same / len(ips)


def disruption(options, ips, n=10):
    """Fraction of clients that move when endpoint 0 of n leaves, and of those that move
    although their endpoint stayed."""
    eps = endpoints(n)
    s = _core.Scheduler("mh", eps, options)
    before = [s.pick(ip) for ip in ips]
    s.apply(eps[1:], options)
    after = [s.pick(ip) for ip in ips]
    moved = sum(x != y for x, y in zip(before, after))
    extra = sum(x != y and x != 0 for x, y in zip(before, after))
    return moved / len(ips), extra / len(ips)


def imbalance(options, ips, n):
    s = _core.Scheduler("mh", endpoints(n), options)
    load = Counter(s.pick(ip) for ip in ips)
    counts = [load.get(i, 0) for i in range(n)]
    slots = Counter(s.slots())
    return max(counts) / statistics.mean(counts), max(slots.values()) / (len(s.slots()) / n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=65537, help="mh_table_size (a prime)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    options = (("mh_table_size", args.size),)
    ips = client_ips(100_000, args.seed)
    print(f"mh_table_size {args.size}, client addresses: 100,000 random IPv4 (seed {args.seed})\n")
    print(f"agreement, 2 nodes, 10 endpoints in other orders and ids, 10,000 clients: "
          f"{agreement(options, ips[:10_000], args.seed):.2%} identical")
    moved, extra = disruption(options, ips)
    print(f"disruption, 1 of 10 endpoints removed: {moved:.2%} of clients move "
          f"(target <= {1 / 10 + 0.02:.0%}; {extra:.2%} whose endpoint stayed)")
    for n in (10, 100, 1000):
        clients, slots = imbalance(options, ips, n)
        print(f"imbalance, {n} endpoints: max/mean {clients:.3f} over 100,000 clients, "
              f"{slots:.3f} over the table's slots")
    for n in (3, 100, 1000):
        print(f"table build, {n} endpoints: {sched_picks.rebuild_ms('mh', n, options):.2f} ms "
              f"(median of 5)")
    for n in (3, 1000):
        s = _core.Scheduler("mh", endpoints(n), options)
        print(f"pick, {n} endpoints: {min(s.bench(2_000_000) for _ in range(5)):.1f} ns "
              f"(best of 5 x 2,000,000, GIL released)")


if __name__ == "__main__":
    main()
