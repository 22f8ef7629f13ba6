"""`lb bench`: lb side by side with kube-proxy's iptables, nftables and ipvs modes (rules
from `lb render`), HAProxy, nginx stream and a direct path, on the user's manifests, in
network namespaces this harness creates and deletes (lb/bench/topology.py).

Modules: manifests (what the manifests give each workload), topology (namespaces),
backends (servers on endpoint hosts), probe (the client agent), modes and proxies (what
serves the virtual servers), workloads and scale (the load), accounting (CPU split,
noise), runner (repeats x modes x workloads), report (tables, JSON), charts (PNG),
progress (the progress line), profiling (perf, strace).
"""
from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lb.bench import report, runner
from lb.bench.manifests import DEFAULT_MANIFESTS, load_bench_services
from lb.bench.progress import Progress
from lb.bench.registry import MODES, WORKLOADS
from lb.bench.topology import Topology, cleanup_leftovers, make_workdir
from lb.bench.workloads import Options

MODE_NAMES = tuple(MODES)
WORKLOAD_NAMES = tuple(WORKLOADS)
REPO = Path(__file__).resolve().parents[2]
QUICK = {"modes": ["lb", "iptables"], "repeat": 1, "duration": 1, "scale_sizes": (10, 100), "idle_connections": 500,
         "latency_samples": 50}
DEFAULTS = {"modes": list(MODE_NAMES), "repeat": 3, "duration": 5, "scale_sizes": (10, 100, 1000, 10000),
            "idle_connections": 9000, "latency_samples": 300}
KEPT_SUFFIXES = (".log", ".cfg", ".conf")
VERSION_COMMANDS = (["iptables", "--version"], ["nft", "--version"], ["haproxy", "-v"], ["nginx", "-v"],
                    ["iperf3", "--version"])


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


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted({_bounded(1, 20000)(x) for x in text.split(",") if x.strip()}))
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lb bench", description=__doc__.split("\n\n")[0])
    p.add_argument("-f", "--filename", dest="files", action="append", default=[], metavar="PATH",
                   help="manifest file or folder (repeatable; default bench/manifests)")
    p.add_argument("--modes", type=_csv(MODE_NAMES), default=None,
                   help=f"comma-separated, from {','.join(MODE_NAMES)} (default all; --quick: lb,iptables)")
    p.add_argument("--workloads", type=_csv(WORKLOAD_NAMES), default=list(WORKLOAD_NAMES),
                   help=f"comma-separated, from {','.join(WORKLOAD_NAMES)} (default all)")
    p.add_argument("--repeat", "--rounds", dest="repeat", type=_bounded(1, 20), default=None,
                   help="runs of every (mode, workload); the report shows median, min and max (default 3)")
    p.add_argument("--duration", type=_bounded(1, 60), default=None, help="seconds per load run (default 5)")
    p.add_argument("--workers", type=_bounded(1, 64), default=1,
                   help="lb workers = haproxy nbthread = nginx worker_processes (default %(default)s)")
    p.add_argument("--streams", type=_bounded(2, 128), default=8, help="iperf3 -P for bulkN (default %(default)s)")
    p.add_argument("--wrk-connections", type=_bounded(1, 1000), default=64, help="wrk -c (default %(default)s)")
    p.add_argument("--idle-connections", type=_bounded(1, 9000), default=None,
                   help="connections held by idle (default 9000)")
    p.add_argument("--scale-sizes", type=_sizes, default=None,
                   help="Service counts for scale (default 10,100,1000,10000; --quick: 10,100)")
    p.add_argument("--latency-samples", type=_bounded(10, 10000), default=None,
                   help="new connections timed per Service and size in scale (default 300)")
    p.add_argument("--quick", action="store_true",
                   help="lb and iptables, 1 repeat, 1 s runs, 500 idle connections, scale 10 and 100")
    p.add_argument("--out", type=Path, default=None, help="report folder (default bench/results/<timestamp>/)")
    p.add_argument("--profile", type=_csv(("lb", "haproxy", "nginx")), default=[],
                   help="after the repeats, profile these modes during extra runs (perf record, strace -c)")
    p.add_argument("--profile-workload", choices=("cps", "keepalive", "bulkN"), default="cps",
                   help="what runs while profiling (default %(default)s)")
    p.add_argument("--cleanup", action="store_true",
                   help="remove lbbench-* namespaces and work folders left by a harness that is gone, then exit")
    return p


def resolve(args) -> tuple[Options, list[str], int]:
    """Fill what the user left out from --quick's values or the defaults."""
    base = QUICK if args.quick else DEFAULTS
    pick = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in {**DEFAULTS, **base}.items()}
    options = Options(duration=pick["duration"], streams=args.streams, wrk_connections=args.wrk_connections,
                      idle_connections=pick["idle_connections"], scale_sizes=tuple(pick["scale_sizes"]),
                      latency_samples=pick["latency_samples"], workers=args.workers)
    return options, list(pick["modes"]), pick["repeat"]


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def _versions() -> str:
    out = []
    for argv in VERSION_COMMANDS:
        if not shutil.which(argv[0]):
            continue
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        first = (r.stdout or r.stderr).strip().splitlines()
        if first:
            out.append(first[0].strip())
    return "; ".join(out)


def _target_rows(services, workloads: list[str]) -> list[dict]:
    rows = []
    for attr in ("http", "bulk"):
        t = getattr(services, attr)
        if t is None:
            continue
        users = [w for w in workloads if WORKLOADS[w].target == attr]
        rows.append({"name": t.name, "virtual_server": f"{t.ip}:{t.port}",
                     "endpoints": ", ".join(f"{ip}:{port}" for ip, port in t.endpoints),
                     "workloads": ", ".join(users) or "–"})
    return rows


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:      # `lb bench -- --repeat 1`: cli.py's REMAINDER keeps the separator
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if os.geteuid() != 0:
        print("lb bench: must run as root: it creates network namespaces, veth links and iptables rules "
              "(try: sudo lb bench ...)", file=sys.stderr)
        return 1
    if args.cleanup:
        log(f"cleanup removed={cleanup_leftovers(log)}")
        return 0
    cleanup_leftovers(log)
    options, modes, repeat = resolve(args)
    services = load_bench_services(args.files or [str(DEFAULT_MANIFESTS)])
    for error in services.errors:
        log(f"manifest error (left out, as lb run would): {error}")
    if not services.snapshot.services:
        log("no Services in the manifests")
        return 1
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    previous = {sig: signal.signal(sig, _raise_exit) for sig in (signal.SIGTERM, signal.SIGHUP)}

    started = time.time()
    out = args.out or REPO / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    workdir = make_workdir()
    topo = Topology(workdir, services.endpoint_ips, services.addresses())
    results = runner.Results(modes=modes, workloads=[w for w in WORKLOADS if w in args.workloads])
    progress = Progress()
    profiles: dict = {}
    status = 0
    try:
        runner.run(options, repeat, services, topo, results, progress, progress.log)
        for name in args.profile:
            profiles[name] = runner.profile(name, args.profile_workload, options, services, topo)
    except KeyboardInterrupt:
        status = 130
    except SystemExit as e:     # SIGTERM, SIGHUP (_raise_exit): stop like Ctrl-C
        status = e.code if isinstance(e.code, int) else 1
    except Exception as e:      # report what was measured, then fail
        log(f"failed error={type(e).__name__}: {e}")
        status = 1
    finally:
        progress.stop()
        topo.down()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log("topology down" if status in (0, 1) else f"stopped (exit {status}); namespaces removed")
    if status or results.has_errors():
        kept = keep_logs(workdir, out / "logs")
        log(f"logs kept in {kept} (errors.log, one log per process)")
    shutil.rmtree(workdir, ignore_errors=True)
    if not (results.runs or results.skipped_modes or results.skipped_workloads):
        return status or 1
    meta = describe_run(argv, started, status, options, repeat, services, results, profiles)
    md, js, charts = report.write_all(out, meta, results)
    print(md.read_text())
    log(f"wrote {md} {js} and {len(charts)} charts")
    return status


def keep_logs(workdir: Path, dest: Path) -> Path:
    """Copy the processes' logs and configurations next to the report (the work folder goes)."""
    for src in workdir.rglob("*"):
        if src.is_file() and src.suffix in KEPT_SUFFIXES:
            target = dest / src.relative_to(workdir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def describe_run(argv, started: float, status: int, options: Options, repeat: int, services, results,
                 profiles: dict) -> dict:
    """What the report says about the run besides its figures."""
    notes = [f"kernel {os.uname().release}; {_versions()}",
             f"wrk -t1 -c{options.wrk_connections}; idle: {options.idle_connections} connections; scale: "
             f"{options.latency_samples} new connections timed per Service and size",
             "modes: " + "; ".join(f"{m}: {MODES[m].description}" for m in results.modes)]
    if status:
        notes.append(f"incomplete run (exit {status}): figures so far")
    return {"started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)), "started_unix": started,
            "elapsed_s": round(time.time() - started, 1), "repeat": repeat, "duration": options.duration,
            "workers": options.workers, "cpus": os.cpu_count(), "modes": results.modes,
            "workloads": results.workloads, "options": vars(options) | {"scale_sizes": list(options.scale_sizes)},
            "manifests": list(services.paths), "targets": _target_rows(services, results.workloads),
            "skipped_services": [list(s) for s in services.skipped], "manifest_errors": list(services.errors),
            "titles": {"bulkN": f"bulk, {options.streams} streams (iperf3 -P {options.streams})"},
            "notes": notes, "profiles": profiles, "command": " ".join(["lb bench", shlex.join(argv)]).strip()}
