"""One bench run: bring the test bed up, then for each repeat, each mode (the order
rotates so no mode always runs first), each workload: start the mode, run, stop.

Results land in `Results` as they come, so an interrupted or failed run still reports
what it measured. Every (mode, workload) gets one dict per repeat: figures, or
{"skipped": why}, or {"error": what}. Scale runs last within a mode: it leaves the mode
holding thousands of Services.
"""
from __future__ import annotations

import subprocess
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from lb.bench.backends import Backends
from lb.bench.manifests import NO_TARGET, BenchServices
from lb.bench.modes import ModeFailed
from lb.bench.probe import ClientProbe, ProbeFailed
from lb.bench.registry import MODES, WORKLOADS
from lb.bench.scale import ScalePlan
from lb.bench.topology import Topology
from lb.bench.workloads import Options, RunContext

MODE_START_ESTIMATE = 2.0
PAUSE_BETWEEN_RUNS = 0.5
# What a workload run may fail with without stopping the bench (recorded as its error).
RUN_ERRORS = (OSError, subprocess.SubprocessError, ModeFailed, ProbeFailed, TimeoutError, RuntimeError, ValueError)


@dataclass
class Results:
    modes: list[str]
    workloads: list[str]
    runs: dict = field(default_factory=dict)              # mode -> workload -> [dict per repeat]
    skipped_modes: dict = field(default_factory=dict)     # mode -> why
    skipped_workloads: dict = field(default_factory=dict)  # workload -> why (every mode)
    sources: dict = field(default_factory=dict)           # what ran (rules, core build) -> repeats

    def add(self, mode: str, workload: str, result: dict) -> None:
        self.runs.setdefault(mode, {}).setdefault(workload, []).append(result)

    def has_errors(self) -> bool:
        return any("error" in r for per_wl in self.runs.values() for rs in per_wl.values() for r in rs)


def plan_workloads(names: list[str], services: BenchServices) -> tuple[list[str], dict]:
    """The workloads that can run (registry order, scale last) and why the others cannot."""
    runnable, skipped = [], {}
    for name in (n for n in WORKLOADS if n in names):
        wl = WORKLOADS[name]
        why = wl.unavailable()
        if why is None and getattr(services, wl.target) is None:
            why = NO_TARGET[wl.target]
        if why:
            skipped[name] = why
        else:
            runnable.append(name)
    return runnable, skipped


def plan_modes(names: list[str], topo: Topology) -> tuple[list[str], dict]:
    runnable, skipped = [], {}
    for name in names:
        why = MODES[name].unavailable(topo)
        if why:
            skipped[name] = why
        else:
            runnable.append(name)
    return runnable, skipped


def estimate(options: Options, workloads: list[str]) -> float:
    """Seconds one mode takes for every workload in one repeat (the progress bar's unit)."""
    return MODE_START_ESTIMATE + sum(WORKLOADS[w].estimate(options) + PAUSE_BETWEEN_RUNS for w in workloads)


def run(options: Options, repeats: int, services: BenchServices, topo: Topology, results: Results,
        progress, log) -> None:
    """Fill `results`; the caller owns topo.down() (also on error and Ctrl-C)."""
    topo.up()
    Backends(topo, services.servers).start()
    probe = ClientProbe(topo)
    log(f"topology up namespaces={len(topo.created)} workdir={topo.workdir}")
    modes, skipped = plan_modes(results.modes, topo)
    results.skipped_modes.update(skipped)
    workloads, skipped = plan_workloads(results.workloads, services)
    results.skipped_workloads.update(skipped)
    for name, why in {**results.skipped_modes, **results.skipped_workloads}.items():
        log(f"skipped {name}: {why}")
    scale_dir = topo.workdir / "lb-scale"
    scale_dir.mkdir(exist_ok=True)
    scale_plan = ScalePlan(services, topo.workdir, services.addresses()) if "scale" in workloads else None
    per_mode = estimate(options, workloads)
    progress.start(total=per_mode * len(modes) * repeats)
    for repeat in range(repeats):
        order = modes[repeat % len(modes):] + modes[:repeat % len(modes)] if modes else []
        for mode_name in order:
            mode = MODES[mode_name](topo, services, probe, options.workers, scale_dir)
            progress.describe(mode_name, "start", repeat, repeats)
            try:
                mode.start()
            except RUN_ERRORS as e:
                log(f"repeat={repeat + 1} mode={mode_name} failed to start: {e}")
                for wl in workloads:
                    results.add(mode_name, wl, {"error": f"start: {e}"})
                progress.advance(per_mode)
                continue
            progress.advance(MODE_START_ESTIMATE)
            if mode.source:
                results.sources.setdefault(mode.source, []).append(repeat + 1)
            try:
                for wl_name in workloads:
                    progress.describe(mode_name, wl_name, repeat, repeats)
                    res = _run_one(WORKLOADS[wl_name], RunContext(
                        topo, mode, probe, getattr(services, WORKLOADS[wl_name].target), options, services,
                        scale_plan), topo.workdir)
                    results.add(mode_name, wl_name, res)
                    log(f"repeat={repeat + 1} mode={mode_name} workload={wl_name} "
                        + " ".join(f"{k}={v}" for k, v in res.items()))
                    progress.advance(WORKLOADS[wl_name].estimate(options) + PAUSE_BETWEEN_RUNS)
                    time.sleep(PAUSE_BETWEEN_RUNS)
            finally:
                mode.stop()


def _run_one(workload, ctx: RunContext, workdir: Path) -> dict:
    why = workload.skip_for(ctx.mode)
    if why:
        return {"skipped": why}
    try:
        return workload.run(ctx)
    except RUN_ERRORS as e:
        with open(workdir / "errors.log", "a") as f:
            f.write(f"{ctx.mode.name} {workload.name}:\n{traceback.format_exc()}\n")
        return {"error": f"{type(e).__name__}: {e}"}


def profile(mode_name: str, workload: str, options: Options, services: BenchServices, topo: Topology) -> dict:
    """One profiled mode after the repeats (lb.bench.profiling); its error as {"error"}."""
    from lb.bench.profiling import profile as run_profile
    probe = ClientProbe(topo)
    mode = MODES[mode_name](topo, services, probe, options.workers, topo.workdir / "lb-scale")
    target = services.bulk if workload == "bulkN" else services.http
    if target is None:
        return {"error": f"no target for {workload}"}
    try:
        mode.start()
        return run_profile(RunContext(topo, mode, probe, target, options, services), workload)
    except RUN_ERRORS as e:
        return {"error": f"{type(e).__name__}: {e}"}
    finally:
        mode.stop()
        topo.stop(probe.proc)
