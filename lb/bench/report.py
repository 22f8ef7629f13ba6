"""Medians over rounds, the Markdown table, and the files under bench/results/.

results[peer][workload] is a list with one dict per round; a round that failed holds
{"error": ...}. The table shows the median of each metric over the rounds that have
it, and the ratios lb/haproxy and lb/dnat.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

# (workload, field, label, better): better is "up" when a larger number is better.
ROWS = (
    ("bulk1", "gbps", "bulk, 1 stream (Gbit/s)", "up"),
    ("bulk8", "gbps", "bulk, 8 streams (Gbit/s)", "up"),
    ("bulk8", "cpu_pct", "bulk 8: peer CPU (% of one core)", "down"),
    ("cps", "rps", "new connections/s (Connection: close)", "up"),
    ("cps", "p50_ms", "  p50 latency (ms)", "down"),
    ("cps", "p99_ms", "  p99 latency (ms)", "down"),
    ("cps", "cpu_pct", "  peer CPU (% of one core)", "down"),
    ("cps", "cpu_us_per_req", "  peer CPU per connection (µs)", "down"),
    ("keepalive", "rps", "keep-alive requests/s", "up"),
    ("keepalive", "p50_ms", "  p50 latency (ms)", "down"),
    ("keepalive", "p99_ms", "  p99 latency (ms)", "down"),
    ("keepalive", "cpu_pct", "  peer CPU (% of one core)", "down"),
    ("keepalive", "cpu_us_per_req", "  peer CPU per request (µs)", "down"),
    ("idle", "bytes_per_conn", "idle connection cost (bytes, RSS)", "down"),
    ("cps", "foreign_cpu_pct", "noise: other processes' CPU during cps (% of machine)", "down"),
)


def median_of(runs: list[dict], field: str) -> float | None:
    vals = [r[field] for r in runs if isinstance(r.get(field), (int, float))]
    return statistics.median(vals) if vals else None


def derive(results: dict, duration: float) -> None:
    """Add cpu_us_per_req (peer CPU time over requests served) to wrk runs, in place."""
    for per_wl in results.values():
        for wl in ("cps", "keepalive"):
            for r in per_wl.get(wl, []):
                if r.get("cpu_s") is not None and r.get("rps"):
                    r["cpu_us_per_req"] = round(1e6 * r["cpu_s"] / (r["rps"] * duration), 1)


def summarize(results: dict) -> dict:
    """{peer: {workload: {field: median}}} over every numeric field."""
    out: dict = {}
    for peer, per_wl in results.items():
        out[peer] = {}
        for wl, runs in per_wl.items():
            fields = {k for r in runs for k, v in r.items() if isinstance(v, (int, float))}
            out[peer][wl] = {f: median_of(runs, f) for f in sorted(fields)}
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def markdown(meta: dict, results: dict) -> str:
    derive(results, meta["duration"])
    med = summarize(results)
    peers = list(results)
    cols = peers + [c for c, p in (("lb/haproxy", "haproxy"), ("lb/dnat", "dnat")) if "lb" in peers and p in peers]
    lines = [f"# lb bench {meta['started']}", "",
             f"Medians of {meta['rounds']} interleaved rounds; {meta['duration']} s per load run; "
             f"{meta['workers']} worker(s) per proxy; {meta['cpus']} CPUs shared by client, peer and backends.",
             "", "| metric | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for wl, field, label, better in ROWS:
        if not any(wl in results[p] for p in peers):
            continue
        vals = {p: med.get(p, {}).get(wl, {}).get(field) for p in peers}
        if all(v is None for v in vals.values()):
            continue
        row = [_fmt(vals[p]) for p in peers]
        if field == "foreign_cpu_pct":
            row += [""] * (len(cols) - len(peers))
        elif "lb/haproxy" in cols:
            row.append(_ratio(vals["lb"], vals["haproxy"]))
        if "lb/dnat" in cols and field != "foreign_cpu_pct":
            row.append(_ratio(vals["lb"], vals["dnat"]))
        arrow = "↑" if better == "up" else "↓"
        lines.append(f"| {label} {arrow} | " + " | ".join(row) + " |")
    syn = {p: sum(r.get("syn_retrans", 0) for runs in results[p].values() for r in runs) for p in peers}
    lines.append("| client TcpExtTCPSynRetrans (sum, all runs) | " + " | ".join(str(syn[p]) for p in peers)
                 + " |" + " |" * (len(cols) - len(peers)))
    lines += ["", "↑ higher is better, ↓ lower is better. Ratios are lb's value over the other's."]
    notes = list(meta.get("notes", []))
    errors = [f"{p} {wl} round {i + 1}: {r['error']}" for p in peers for wl, runs in results[p].items()
              for i, r in enumerate(runs) if "error" in r]
    idle_notes = [f"{p}: {r['note']}" for p in peers for r in results[p].get("idle", [])[:1] if "note" in r]
    if notes or errors or idle_notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes + idle_notes + errors]
    for peer, prof in meta.get("profiles", {}).items():
        lines += ["", f"## Where {peer}'s time goes during {prof.get('workload', 'cps')}"]
        if "error" in prof:
            lines.append(f"not profiled: {prof['error']}")
            continue
        lines += ["", f"perf record -g, by object then flat by symbol (rate under perf: "
                      f"{prof.get('rate_under_perf')}):", "",
                  "```", prof.get("perf_dso", ""), "", prof.get("perf", ""), "```", "",
                  f"strace -c -f (rate under strace: {prof.get('rate_under_strace')}):", "", "```",
                  prof.get("strace", ""), "```"]
    lines += ["", "Command: `" + meta["command"] + "`", ""]
    return "\n".join(lines)


def write(results_dir: Path, meta: dict, results: dict) -> tuple[Path, Path, str]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(meta["started_unix"]))
    text = markdown(meta, results)
    md, js = results_dir / f"{stamp}.md", results_dir / f"{stamp}.json"
    md.write_text(text)
    js.write_text(json.dumps({"meta": meta, "runs": results, "medians": summarize(results)}, indent=2) + "\n")
    return md, js, text
