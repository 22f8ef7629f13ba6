"""Cost of each scheduler's pick and of its rebuild, by the number of endpoints, measured through
lb._core.Scheduler (the core's own functions, picks in a loop with the GIL released).

    .venv/bin/python bench/sched_picks.py [--picks 1000000]

A pick here is the dispatcher's (_sched_pick), as a worker makes it per connection attempt,
with the client address and port changing at each pick. lc and wlc read one counter slot per
worker (1 here); with W workers they read W. rebuild: set_endpoint_state changing one weight,
which rebuilds the row's data for wrr, sh and mh and nothing for the others.
"""
import argparse
import statistics
import time

from lb import _core

NAMES = ("rr", "wrr", "lc", "wlc", "sh", "mh")


def endpoints(n, weight=lambda i: 1 + i % 3):
    """n endpoints (ep_id i, ip, port, weight(i)) on 10.x.y.z."""
    return [(i, f"10.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}", 8080, weight(i)) for i in range(n)]


def rebuild_ms(name, n, options=(), rounds=5):
    """Median time of set_endpoint_state changing one weight among n endpoints: for wrr, sh and
    mh the row copy and its data built again (no Python per endpoint)."""
    s = _core.Scheduler(name, endpoints(n), options)
    times = []
    for k in range(rounds):
        t0 = time.perf_counter()
        s.set_endpoint_state(0, 4 + k % 2)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--picks", type=int, default=1_000_000)
    args = ap.parse_args()
    sizes = (3, 100, 1000)
    print("ns per pick (best of 5) | rebuild ms (median of 5)")
    print(f"{'':4}" + "".join(f"{f'n={n}':>12}" for n in sizes) + "".join(f"{f'n={n}':>12}" for n in sizes))
    for name in NAMES:
        # lc and wlc scan every endpoint: fewer picks where n is large
        count = {n: args.picks // (n // 3 if name in ("lc", "wlc") else 1) for n in sizes}
        picks = [min(_core.Scheduler(name, endpoints(n)).bench(count[n]) for _ in range(5)) for n in sizes]
        builds = [rebuild_ms(name, n) for n in sizes]
        print(f"{name:4}" + "".join(f"{p:12.1f}" for p in picks) + "".join(f"{b:12.3f}" for b in builds))


if __name__ == "__main__":
    main()
