"""The load workloads, always driven from the client namespace, bounded in time and count.

  bulk1, bulkN  iperf3 -c <bulk target> -t S -P 1|N; received Gbit/s.
  cps           wrk -H 'Connection: close': each request on a new connection, so requests/s
                is connections/s; p50/p99 from --latency (wrk's clock starts when the
                request is written, so the handshake with the load balancer is not in it).
  keepalive     wrk with persistent connections; requests/s and p50/p99.
  idle          `idle_connections` connections opened at a bounded rate and held; the
                load balancer's resident memory before and after gives bytes per connection.

A workload is one Workload value in LOAD_WORKLOADS (scale lives in lb.bench.scale): its
target (the Service port it drives: "http" or "bulk", lb.bench.manifests), the tools it
needs, the metrics the report and charts show (the first is the chart's headline) and
its run function, which returns one dict of figures. Each run also carries the
lb.bench.accounting fields (CPU split, noise, SYN retransmits).
"""
from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lb.bench.accounting import Meter, rss_bytes

WRK_THREADS = 1
IDLE_RATE = 3000                 # connections opened per second
IDLE_HOLD_MAX = 120.0            # the client agent closes them after this long, whatever happens
IDLE_SETTLE_TIMEOUT = 15.0
RUN_SLACK = 30.0                 # seconds a load tool may take beyond its own duration


@dataclass(frozen=True)
class Options:
    """What every workload is parameterised by (from the command line)."""
    duration: int = 5
    streams: int = 8
    wrk_connections: int = 64
    idle_connections: int = 9000
    scale_sizes: tuple[int, ...] = (10, 100, 1000, 10000)
    latency_samples: int = 300
    workers: int = 1


@dataclass(frozen=True)
class Metric:
    field: str
    label: str
    higher_is_better: bool


@dataclass(frozen=True)
class RunContext:
    topo: object
    mode: object
    probe: object
    target: object           # lb.bench.manifests.Target
    options: Options
    services: object         # lb.bench.manifests.BenchServices
    scale_plan: object = None    # lb.bench.scale.ScalePlan


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    target: str                                   # "http" or "bulk"
    run: Callable[[RunContext], dict]
    estimate: Callable[[Options], float]          # seconds, for the ETA
    metrics: tuple[Metric, ...] = ()
    tools: tuple[str, ...] = ()
    skip_for: Callable[[object], str | None] = field(default=lambda mode: None)   # mode -> why not

    def unavailable(self) -> str | None:
        gone = [t for t in self.tools if not shutil.which(t)]
        return f"{', '.join(gone)} not installed" if gone else None


# -- bulk ----------------------------------------------------------------------------------
def run_bulk(ctx: RunContext, streams: int) -> dict:
    ip, port = ctx.mode.address(ctx.target)
    duration = ctx.options.duration
    argv = ["iperf3", "-c", ip, "-p", str(port), "-t", str(duration), "-P", str(streams), "-J",
            "--connect-timeout", "3000"]
    with Meter(ctx.topo, ctx.mode) as meter:
        r = ctx.topo.run("client", argv, timeout=duration + RUN_SLACK)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"error": (r.stderr or r.stdout).strip()[:300]}
    if "error" in data:
        return {"error": data["error"]}
    end = data["end"]
    return {"gbps": round(end["sum_received"]["bits_per_second"] / 1e9, 3),
            "retransmits": end["sum_sent"].get("retransmits", 0), **meter.fields()}


# -- wrk -----------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    res: dict = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = round(float(m.group(1)), 1)
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res[key] = round(_ms(m.group(1)), 3)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def run_wrk(ctx: RunContext, close: bool) -> dict:
    ip, port = ctx.mode.address(ctx.target)
    duration = ctx.options.duration
    argv = ["wrk", "-t", str(WRK_THREADS), "-c", str(ctx.options.wrk_connections), "-d", f"{duration}s",
            "--timeout", "5s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"http://{ip}:{port}/")
    with Meter(ctx.topo, ctx.mode) as meter:
        r = ctx.topo.run("client", argv, timeout=duration + RUN_SLACK)
    res = parse_wrk(r.stdout)
    if "rps" not in res:
        return {"error": (r.stderr or r.stdout).strip()[:300]}
    res.update(meter.fields())
    if res.get("lb_cpu_s") is not None and res["rps"]:
        res["lb_cpu_us_per_req"] = round(1e6 * res["lb_cpu_s"] / (res["rps"] * duration), 1)
    if res["rps"]:
        res["softirq_us_per_req"] = round(1e6 * res["softirq_s"] / (res["rps"] * duration), 1)
    return res


# -- idle ----------------------------------------------------------------------------------
def _established(topo, target) -> int:
    """Established connections at the target's endpoints (each endpoint host counted once
    per endpoint port)."""
    total = 0
    for ip, port in sorted(set(target.endpoints)):
        r = topo.run(topo.host_of(ip), ["ss", "-Htn", "state", "established", f"( sport = :{port} )"], timeout=10)
        total += len(r.stdout.splitlines())
    return total


def _slab_object_size(name: str) -> int | None:
    try:
        for line in Path("/proc/slabinfo").read_text().splitlines():
            if line.startswith(name + " "):
                return int(line.split()[3])
    except OSError:
        pass
    return None


def run_idle(ctx: RunContext) -> dict:
    """Hold connections through the mode and read what they cost it."""
    ip, port = ctx.mode.address(ctx.target)
    rss0 = rss_bytes(ctx.mode.pids())
    count = ctx.options.idle_connections
    try:
        held = ctx.probe.hold(ip, port, count, IDLE_RATE, IDLE_HOLD_MAX)
        opened = held.get("opened", 0)
        deadline = time.monotonic() + IDLE_SETTLE_TIMEOUT
        at_backends = _established(ctx.topo, ctx.target)
        while at_backends < opened and time.monotonic() < deadline:
            time.sleep(0.5)
            at_backends = _established(ctx.topo, ctx.target)
        time.sleep(1.0)
        rss1 = rss_bytes(ctx.mode.pids())
    finally:
        ctx.probe.release()
    res: dict = {"opened": opened, "at_backends": at_backends}
    if opened < count:
        res["error"] = f"only {opened} of {count} connections opened"
    if ctx.mode.proxy:
        res.update(rss_before_mb=round(rss0 / 2**20, 1), rss_after_mb=round(rss1 / 2**20, 1),
                   bytes_per_conn=round((rss1 - rss0) / max(opened, 1)))
    else:
        # Kernel memory, not a process's: each connection is one conntrack entry
        # (nf_conntrack_count also moves with earlier entries expiring: the size is reported).
        res.update(bytes_per_conn=_slab_object_size("nf_conntrack"),
                   note="kernel: one nf_conntrack slab object per connection")
    return res


def _no_balancer(mode) -> str | None:
    return "no load balancer in the path" if mode.name == "direct" else None


GBPS = Metric("gbps", "Gbit/s", True)
RPS_CLOSE = Metric("rps", "new connections/s", True)
RPS_KEEPALIVE = Metric("rps", "requests/s", True)
P50 = Metric("p50_ms", "p50 latency (ms)", False)
P99 = Metric("p99_ms", "p99 latency (ms)", False)


def _wrk_estimate(o: Options) -> float:
    return o.duration + 1.5


LOAD_WORKLOADS = {w.name: w for w in (
    Workload("bulk1", "bulk, 1 stream (iperf3)", "bulk", lambda ctx: run_bulk(ctx, 1),
             lambda o: o.duration + 2.0, (GBPS,), ("iperf3",)),
    Workload("bulkN", "bulk, N streams (iperf3 -P N)", "bulk", lambda ctx: run_bulk(ctx, ctx.options.streams),
             lambda o: o.duration + 2.0, (GBPS,), ("iperf3",)),
    Workload("cps", "new connections with close (wrk)", "http", lambda ctx: run_wrk(ctx, close=True),
             _wrk_estimate, (RPS_CLOSE, P50, P99), ("wrk",)),
    Workload("keepalive", "keep-alive requests (wrk)", "http", lambda ctx: run_wrk(ctx, close=False),
             _wrk_estimate, (RPS_KEEPALIVE, P50, P99), ("wrk",)),
    Workload("idle", "idle connections held", "http", run_idle,
             lambda o: o.idle_connections / IDLE_RATE + 4.0, (Metric("bytes_per_conn", "bytes per connection", False),),
             (), _no_balancer),
)}
