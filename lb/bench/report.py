"""Medians with min and max over repeats, ratios to `direct` and to `iptables`, the
Markdown report and the JSON file with every run.

results.runs[mode][workload] holds one dict per repeat: figures, {"skipped": why} or
{"error": what}. Every numeric field is summarised as {median, min, max, n} over the
repeats that have it. Scale's fields carry their size: "program_s@10000".
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from lb.bench import profiling
from lb.bench.registry import WORKLOADS
from lb.bench.workloads import Metric

BASELINES = ("direct", "iptables")
CPU_NOTE = ("CPU: `LB process` is utime+stime of the mode's processes (lb, haproxy, nginx; kernel modes "
            "have none), which on this kernel (no IRQ time accounting) includes softirq work run in their "
            "context; `softirq` is the machine's /proc/stat softirq+irq time over the run, every CPU: all packet "
            "processing on the box (client, lb node, endpoint hosts; kernel modes' DNAT is here), overlapping "
            "the former. `noise` is the machine's busy time outside the bench's processes, % of all CPUs.")
SCALE_COLUMNS = (("program_s", "program (s)"), ("first_p50_ms", "first p50 (ms)"), ("first_p99_ms", "first p99 (ms)"),
                 ("last_p50_ms", "last p50 (ms)"), ("last_p99_ms", "last p99 (ms)"), ("program_cpu_s", "CPU (s)"))
CPU_COLUMNS = (("lb_cpu_s", "LB process CPU (s)"), ("softirq_s", "softirq (s)"),
               ("lb_cpu_us_per_req", "LB CPU µs/req"), ("softirq_us_per_req", "softirq µs/req"),
               ("foreign_cpu_pct", "noise %"))


def summarize(runs: dict) -> dict:
    """{mode: {workload: {field: {median, min, max, n}}}} over every numeric field."""
    out: dict = {}
    for mode, per_wl in runs.items():
        for wl, rs in per_wl.items():
            fields = sorted({k for r in rs for k, v in r.items() if _number(v)})
            out.setdefault(mode, {})[wl] = {f: _stats([r[f] for r in rs if _number(r.get(f))]) for f in fields}
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _stats(vals: list[float]) -> dict:
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000 or (abs(v) >= 10 and float(v).is_integer()):
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _cell(s: dict | None) -> str:
    if not s:
        return "–"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def _median(summary: dict, mode: str, wl: str, field: str) -> float | None:
    s = summary.get(mode, {}).get(wl, {}).get(field)
    return s["median"] if s else None


def _status(rs: list[dict]) -> str:
    """Why a mode has no figures for a workload: its skip reason or its first error."""
    for r in rs:
        if "skipped" in r:
            return f"skipped: {r['skipped']}"
    for r in rs:
        if "error" in r:
            return f"error: {r['error']}"
    return ""


def workload_section(name: str, title: str, metrics: tuple[Metric, ...], modes: list[str], runs: dict,
                     summary: dict) -> list[str]:
    cols = [m.label + (" ↑" if m.higher_is_better else " ↓") for m in metrics]
    cpu = [(f, label) for f, label in CPU_COLUMNS if any(f in summary.get(m, {}).get(name, {}) for m in modes)]
    lines = [f"## {title}", "", "| mode | " + " | ".join(cols + [label for _, label in cpu]) + " |",
             "|---|" + "---:|" * (len(cols) + len(cpu))]
    for mode in modes:
        rs = runs.get(mode, {}).get(name, [])
        per = summary.get(mode, {}).get(name, {})
        if not any(m.field in per for m in metrics):
            lines.append(f"| {mode} | {_status(rs) or '–'} |" + " |" * (len(cols) + len(cpu) - 1))
            continue
        vals = [_cell(per.get(m.field)) for m in metrics] + [_cell(per.get(f)) for f, _ in cpu]
        lines.append(f"| {mode} | " + " | ".join(vals) + " |")
    baselines = [b for b in BASELINES if any(m.field in summary.get(b, {}).get(name, {}) for m in metrics)]
    if baselines:
        heads = [f"{m.label} / {b}" for m in metrics for b in baselines]
        lines += ["", "| mode | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
        for mode in modes:
            if not any(m.field in summary.get(mode, {}).get(name, {}) for m in metrics):
                continue
            cells = [ratio(_median(summary, mode, name, m.field), _median(summary, b, name, m.field))
                     for m in metrics for b in baselines]
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return lines + [""]


def scale_sizes(summary: dict) -> list[int]:
    sizes = {int(f.split("@")[1]) for per in summary.values() for f in per.get("scale", {}) if "@" in f}
    return sorted(sizes)


def scale_section(modes: list[str], runs: dict, summary: dict) -> list[str]:
    sizes = scale_sizes(summary)
    lines = ["## Services at scale: time to program, new-connection latency to the first and last Service", ""]
    if not sizes:
        return lines + ["| mode | |", "|---|---|"] + [
            f"| {m} | {_status(runs.get(m, {}).get('scale', [])) or '–'} |" for m in modes] + [""]
    lines += ["| mode | Services | " + " | ".join(label for _, label in SCALE_COLUMNS) + " |",
              "|---|---:|" + "---:|" * len(SCALE_COLUMNS)]
    for mode in modes:
        per = summary.get(mode, {}).get("scale", {})
        if not per:
            lines.append(f"| {mode} | {_status(runs.get(mode, {}).get('scale', [])) or '–'} |"
                         + " |" * len(SCALE_COLUMNS))
            continue
        for n in sizes:
            cells = []
            for f, _ in SCALE_COLUMNS:
                timeout = per.get(f"timeout_s@{n}")
                cells.append(f"> {fmt(timeout['max'])} (timeout)" if f == "program_s" and timeout and
                             f"{f}@{n}" not in per else _cell(per.get(f"{f}@{n}")))
            lines.append(f"| {mode} | {n:,} | " + " | ".join(cells) + " |")
    changes = [(m, n) for m in modes for n in sizes
               if f"change_s@{n}" in summary.get(m, {}).get("scale", {})
               or f"change_timeout_s@{n}" in summary.get(m, {}).get("scale", {})]
    if changes:
        lines += ["", "One endpoint change (write to traffic reaching the new endpoint):", "",
                  "| mode | Services | change (s) | CPU (s) |", "|---|---:|---:|---:|"]
        for mode, n in changes:
            per = summary[mode]["scale"]
            value = _cell(per.get(f"change_s@{n}")) if f"change_s@{n}" in per \
                else f"> {fmt(per[f'change_timeout_s@{n}']['max'])} (timeout)"
            lines.append(f"| {mode} | {n:,} | {value} | {_cell(per.get(f'change_cpu_s@{n}'))} |")
    ratios = [b for b in BASELINES if summary.get(b, {}).get("scale")]
    if ratios and sizes:
        n = sizes[-1]
        heads = [f"{label} / {b}" for f, label in SCALE_COLUMNS[:5] for b in ratios]
        lines += ["", f"At {n:,} Services, ratios:", "", "| mode | " + " | ".join(heads) + " |",
                  "|---|" + "---:|" * len(heads)]
        for mode in modes:
            if not summary.get(mode, {}).get("scale"):
                continue
            cells = [ratio(_median(summary, mode, "scale", f"{f}@{n}"), _median(summary, b, "scale", f"{f}@{n}"))
                     for f, _ in SCALE_COLUMNS[:5] for b in ratios]
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(meta: dict, results) -> str:
    summary = summarize(results.runs)
    modes = [m for m in results.modes if m in results.runs]
    lines = [f"# lb bench {meta['started']}", "",
             f"Medians of {meta['repeat']} repeat(s), min–max in brackets; {meta['duration']} s per load run; "
             f"{meta['workers']} worker(s) per load balancer; {meta['cpus']} CPUs shared by client, load "
             f"balancer and endpoint hosts. Manifests: {', '.join(meta['manifests'])}.", ""]
    lines += ["## Services", "", "| Service port | virtual server | endpoints | driven by |", "|---|---|---|---|"]
    for row in meta["targets"]:
        lines.append(f"| {row['name']} | {row['virtual_server']} | {row['endpoints']} | {row['workloads']} |")
    lines += [f"| {name} | | | skipped: {why} |" for name, why in meta["skipped_services"]]
    lines.append("")
    for name in results.workloads:
        if name == "scale" or name in results.skipped_workloads:
            continue
        wl = WORKLOADS[name]
        lines += workload_section(name, meta["titles"].get(name, wl.title), wl.metrics, modes, results.runs, summary)
    if "scale" in results.workloads and "scale" not in results.skipped_workloads:
        lines += scale_section(modes, results.runs, summary)
    skipped = [f"mode {m}: {why}" for m, why in results.skipped_modes.items()]
    skipped += [f"workload {w}: {why}" for w, why in results.skipped_workloads.items()]
    errors = [f"{m} {wl} repeat {i + 1}: {r['error']}" for m, per in results.runs.items() for wl, rs in per.items()
              for i, r in enumerate(rs) if "error" in r]
    syn = sum(r.get("syn_retrans", 0) for per in results.runs.values() for rs in per.values() for r in rs)
    notes = skipped + [f"{src} (repeats {','.join(map(str, reps))})" for src, reps in results.sources.items()]
    notes += list(meta.get("notes", [])) + [f"client TcpExtTCPSynRetrans over all runs: {syn}", CPU_NOTE] + errors
    lines += ["## Notes", ""] + [f"- {n}" for n in notes]
    if meta.get("charts"):
        lines += ["", "## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in meta["charts"]]
    lines += profiling.markdown(meta.get("profiles", {}))
    lines += ["", "Command: `" + meta["command"] + "`", ""]
    return "\n".join(lines)


def write_all(out: Path, meta: dict, results) -> tuple[Path, Path, list[Path]]:
    """The charts, report.md and runs.json in `out`; returns the two files and the charts."""
    from lb.bench import charts
    out.mkdir(parents=True, exist_ok=True)
    drawn: list[Path] = []
    try:
        drawn = charts.draw(out, [WORKLOADS[w] for w in results.workloads], meta["titles"], results.modes,
                            summarize(results.runs))
    except ImportError as e:
        meta["notes"].append(f"no charts: {e} (pip install 'lb[bench]')")
    meta["charts"] = [p.name for p in drawn]
    md, js = out / "report.md", out / "runs.json"
    md.write_text(markdown(meta, results))
    js.write_text(json.dumps({"meta": meta, "runs": results.runs, "summary": summarize(results.runs),
                              "skipped_modes": results.skipped_modes,
                              "skipped_workloads": results.skipped_workloads}, indent=2) + "\n")
    return md, js, drawn
