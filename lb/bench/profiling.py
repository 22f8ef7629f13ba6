"""Where a load balancer's time goes: two extra runs of one workload per profiled mode
(not in the tables), one under `perf record -g -p <its pids>` (report by object, then
flat by symbol), one under `strace -c -f` (syscalls: divide by rate x duration for per
connection). Both tools slow the process (strace a lot): the rate each run reached is
reported with it.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import replace

from lb.bench.workloads import RunContext, run_bulk, run_wrk

PERF_FREQ = 499
TOP_LINES = 40
PROFILE_WORKLOADS = ("cps", "keepalive", "bulkN")


def _rate(ctx: RunContext, workload: str):
    if workload == "bulkN":
        return run_bulk(ctx, ctx.options.streams).get("gbps")
    return run_wrk(ctx, close=(workload == "cps")).get("rps")


def _perf_report(data, sort: str, extra=()) -> list[str]:
    r = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", sort, "--stdio", "-g", "none",
                        "--percent-limit", "0.5", *extra], capture_output=True, text=True, timeout=300)
    return [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]


def profile(ctx: RunContext, workload: str) -> dict:
    """ctx.target must be the workload's target (bulk for bulkN, http otherwise)."""
    topo, mode, duration = ctx.topo, ctx.mode, ctx.options.duration
    pids = ",".join(str(p) for p in mode.pids())
    if not pids:
        return {"error": "no process to profile"}
    out: dict = {"workload": workload}
    data = topo.workdir / f"perf-{mode.name}.data"
    perf = subprocess.Popen(["perf", "record", "-F", str(PERF_FREQ), "-g", "-o", str(data), "-p", pids,
                             "--", "sleep", str(duration)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    topo.procs.append(perf)
    out["rate_under_perf"] = _rate(ctx, workload)
    try:
        perf.wait(duration + 30)
    finally:
        topo.stop(perf)
    out["perf_dso"] = "\n".join(_perf_report(data, "dso"))
    out["perf"] = "\n".join(_perf_report(data, "dso,sym")[:TOP_LINES])
    trace = topo.workdir / f"strace-{mode.name}.txt"
    strace = subprocess.Popen(["timeout", "-s", "INT", str(duration), "strace", "-c", "-f", "-o", str(trace),
                               "-p", pids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    topo.procs.append(strace)
    time.sleep(0.5)
    out["rate_under_strace"] = _rate(replace(ctx, options=replace(ctx.options, duration=max(duration - 1, 1))),
                                     workload)
    try:
        strace.wait(duration + 30)
    finally:
        topo.stop(strace)
    try:
        out["strace"] = "\n".join(trace.read_text().splitlines()[:TOP_LINES // 2])
    except OSError:
        out["strace"] = "(no strace output)"
    return out


def markdown(profiles: dict) -> list[str]:
    lines = []
    for mode, prof in profiles.items():
        lines += ["", f"## Where {mode}'s time goes during {prof.get('workload', 'cps')}"]
        if "error" in prof:
            lines.append(f"not profiled: {prof['error']}")
            continue
        lines += ["", f"perf record -g, by object then flat by symbol (rate under perf: {prof.get('rate_under_perf')}):",
                  "", "```", prof.get("perf_dso", ""), "", prof.get("perf", ""), "```", "",
                  f"strace -c -f (rate under strace: {prof.get('rate_under_strace')}):", "", "```",
                  prof.get("strace", ""), "```"]
    return lines
