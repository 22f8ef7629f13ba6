"""`lb bench`: lb side by side with HAProxy, nginx stream, kernel DNAT (kube-proxy's
iptables mode) and a direct connection, in network namespaces this harness creates
and deletes (lb/bench/topology.py).

Rounds interleave the peers (each round starts at a different peer); every load run is
bounded in time; the table holds medians over rounds. Results: stdout and
bench/results/<timestamp>.md + .json.
"""
from __future__ import annotations

import argparse
import atexit
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lb.kernel import ipvs_available

PEER_NAMES = ("lb", "haproxy", "nginx", "dnat", "direct")
WORKLOAD_NAMES = ("bulk1", "bulk8", "cps", "keepalive", "idle")
IPVS_SKIP = "ipvs: skipped: no IPVS in this kernel"


def _csv(choices):
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)} (choose from {','.join(choices)})")
        return items
    return parse


def _bounded(lo: int, hi: int):
    def parse(text: str) -> int:
        v = int(text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi}")
        return v
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lb bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=_bounded(1, 20), default=3, help="interleaved rounds (default %(default)s)")
    p.add_argument("--duration", type=_bounded(1, 60), default=5, help="seconds per load run (default %(default)s)")
    p.add_argument("--workers", type=_bounded(1, 64), default=1, help="lb workers = haproxy nbthread = nginx "
                                                          "worker_processes (default %(default)s)")
    p.add_argument("--peers", type=_csv(PEER_NAMES + ("ipvs",)), default=list(PEER_NAMES),
                   help="comma-separated, from " + ",".join(PEER_NAMES) + " (ipvs: reported as skipped "
                   "when the kernel has none)")
    p.add_argument("--workloads", type=_csv(WORKLOAD_NAMES), default=list(WORKLOAD_NAMES),
                   help="comma-separated, from " + ",".join(WORKLOAD_NAMES))
    p.add_argument("--wrk-connections", type=_bounded(1, 1000), default=None, help="wrk -c (default 64)")
    p.add_argument("--idle-connections", type=_bounded(1, 9000), default=None, help="connections held by idle (default 9000)")
    p.add_argument("--results-dir", type=Path, default=None, help="default: <repo>/bench/results")
    p.add_argument("--no-save", action="store_true", help="print the table only")
    p.add_argument("--profile", type=_csv(PEER_NAMES), default=[],
                   help="after the rounds, profile these peers during extra runs (perf record, strace -c)")
    p.add_argument("--profile-workload", choices=("cps", "keepalive", "bulk8"), default="cps",
                   help="what runs while profiling (default %(default)s)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove lbbench-* namespaces left by a harness that is gone, then exit")
    return p


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def run_workload(topo, peer, name: str, args) -> dict:
    from lb.bench import workloads as w
    if name == "bulk1":
        return w.run_bulk(topo, peer, 1, args.duration)
    if name == "bulk8":
        return w.run_bulk(topo, peer, 8, args.duration)
    if name == "cps":
        return w.run_wrk(topo, peer, args.duration, close=True, connections=args.wrk_connections or w.WRK_CONNECTIONS)
    if name == "keepalive":
        return w.run_wrk(topo, peer, args.duration, close=False, connections=args.wrk_connections or w.WRK_CONNECTIONS)
    if name == "idle":
        return w.run_idle(topo, peer, count=args.idle_connections or w.IDLE_CONNECTIONS)
    raise ValueError(name)


def bench(args, topo, results: dict, notes: list[str], profiles: dict) -> None:
    """Run every (round, peer, workload), filling results[peer][workload] with one dict per
    round as it goes (so an interrupted run still reports what it measured)."""
    peers = [p for p in args.peers if p != "ipvs"]
    results.update({p: {wl: [] for wl in args.workloads} for p in peers})
    sources: dict[str, list[str]] = {}     # what each peer ran (rules, core build) -> rounds
    try:
        _rounds(args, topo, peers, results, sources, profiles)
    finally:
        notes += [f"{src} (rounds {','.join(rnds)})" for src, rnds in sources.items()]


def _rounds(args, topo, peers, results, sources, profiles) -> None:
    from lb.bench.peers import PEERS, Backends, PeerUnavailable
    from lb.bench.workloads import profile
    topo.up()
    backends = Backends(topo)
    backends.start()
    log(f"topology up namespaces={','.join(topo.created)} workdir={topo.workdir}")
    for rnd in range(args.rounds):
        order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
        for name in order:
            peer = PEERS[name](topo, args.workers)
            try:
                peer.start()
            except PeerUnavailable as e:
                log(f"round={rnd + 1} peer={name} unavailable: {e}")
                for wl in args.workloads:
                    results[name][wl].append({"error": f"unavailable: {e}"})
                continue
            if getattr(peer, "source", None):
                sources.setdefault(f"{name}: {peer.source}", []).append(str(rnd + 1))
            try:
                for wl in args.workloads:
                    res = run_workload(topo, peer, wl, args)
                    results[name][wl].append(res)
                    log(f"round={rnd + 1} peer={name} workload={wl} "
                        + " ".join(f"{k}={v}" for k, v in res.items()))
                    time.sleep(0.5)
            finally:
                peer.stop()
    for name in args.profile:
        peer = PEERS[name](topo, args.workers)
        try:
            peer.start()
        except PeerUnavailable as e:
            profiles[name] = {"error": str(e)}
            continue
        try:
            profiles[name] = profile(topo, peer, args.duration, args.profile_workload)
            log(f"profiled peer={name} workload={args.profile_workload} "
                f"under_perf={profiles[name].get('rate_under_perf')} "
                f"under_strace={profiles[name].get('rate_under_strace')}")
        except (OSError, subprocess.SubprocessError) as e:
            profiles[name] = {"error": f"{type(e).__name__}: {e}"}
        finally:
            peer.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:      # `lb bench -- --rounds 1`: cli.py's REMAINDER keeps the separator
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if os.geteuid() != 0:
        print("lb bench: must run as root: it creates network namespaces, veth links and iptables rules "
              "(try: sudo lb bench ...)", file=sys.stderr)
        return 1
    from lb.bench.topology import Topology, cleanup_leftovers
    if args.cleanup:
        n = cleanup_leftovers(log)
        log(f"cleanup removed={n}")
        return 0
    cleanup_leftovers(log)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)

    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="lbbench-"))
    topo = Topology(workdir)
    atexit.register(topo.down)
    results: dict = {}
    notes: list[str] = []
    profiles: dict = {}
    status = 0
    try:
        bench(args, topo, results, notes, profiles)
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    except Exception as e:      # report what was measured, then fail
        log(f"failed error={type(e).__name__}: {e}")
        status = 1
    finally:
        topo.down()
        log("topology down")
    if status == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"logs kept in {workdir}")
        notes.append(f"incomplete run (exit {status}): figures so far")
    if not any(runs for per_wl in results.values() for runs in per_wl.values()):
        return status or 1
    from lb.bench import report, workloads as w
    if not ipvs_available():
        notes.append(IPVS_SKIP)
    notes.append(f"wrk -t{w.WRK_THREADS} -c{args.wrk_connections or w.WRK_CONNECTIONS}; idle: "
                 f"{args.idle_connections or w.IDLE_CONNECTIONS} connections opened at {w.IDLE_RATE}/s; "
                 f"kernel {os.uname().release}")
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)), "started_unix": started,
            "elapsed_s": round(time.time() - started, 1), "rounds": args.rounds, "duration": args.duration,
            "workers": args.workers, "cpus": os.cpu_count(), "peers": args.peers, "workloads": args.workloads,
            "command": " ".join(["bench/run.sh", shlex.join(argv)]).strip(), "notes": notes,
            "profiles": profiles}
    from lb.bench.peers import REPO
    if args.no_save:
        print(report.markdown(meta, results))
    else:
        md, js, text = report.write(args.results_dir or REPO / "bench" / "results", meta, results)
        print(text)
        log(f"wrote {md} {js}")
    return status
