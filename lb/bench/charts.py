"""PNG charts of a bench run, drawn with matplotlib (Agg, no display):

- one per load workload: a panel per metric, a bar per mode at the median, whiskers
  from the min to the max over the repeats;
- scale: the time to program N Services and the p50 and p99 new-connection latency to
  the first and last Service against N, log axes, one line per mode (whiskers: min–max).

Reads report.summarize()'s output only, so a chart shows exactly the table's figures.
"""
from __future__ import annotations

from pathlib import Path

from lb.bench.report import fmt, scale_sizes

DPI = 110
BAR_COLORS = {"lb": "#1f77b4", "iptables": "#d62728", "nftables": "#ff7f0e", "ipvs": "#9467bd",
              "haproxy": "#2ca02c", "nginx": "#8c564b", "direct": "#7f7f7f"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _color(mode: str) -> str:
    return BAR_COLORS.get(mode, "#17becf")


def workload_chart(path: Path, title: str, metrics, modes: list[str], summary: dict, workload: str) -> Path | None:
    """Bars with min–max whiskers per mode, one panel per metric; None when no mode has figures."""
    panels = [(m, [(mode, summary.get(mode, {}).get(workload, {}).get(m.field)) for mode in modes]) for m in metrics]
    panels = [(m, [(mode, s) for mode, s in rows if s]) for m, rows in panels]
    panels = [(m, rows) for m, rows in panels if rows]
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 0.8, 3.8), squeeze=False)
    for ax, (metric, rows) in zip(axes[0], panels):
        names = [mode for mode, _ in rows]
        med = [s["median"] for _, s in rows]
        low = [s["median"] - s["min"] for _, s in rows]
        high = [s["max"] - s["median"] for _, s in rows]
        ax.bar(names, med, color=[_color(n) for n in names], yerr=[low, high], capsize=4, ecolor="#333333")
        ax.set_title(metric.label + (" (higher is better)" if metric.higher_is_better else " (lower is better)"),
                     fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        for x, v in enumerate(med):
            ax.annotate(fmt(v), (x, v), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                        textcoords="offset points")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _curve(ax, sizes: list[int], per: dict, field: str, **style) -> bool:
    xs, ys, lo, hi = [], [], [], []
    for n in sizes:
        s = per.get(f"{field}@{n}")
        if s:
            xs.append(n)
            ys.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
    if not xs:
        return False
    ax.errorbar(xs, ys, yerr=[lo, hi], capsize=3, marker="o", **style)
    return True


def scale_chart(path: Path, modes: list[str], summary: dict) -> Path | None:
    sizes = scale_sizes(summary)
    modes = [m for m in modes if summary.get(m, {}).get("scale")]
    if not sizes or not modes:
        return None
    plt = _pyplot()
    from matplotlib import ticker
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    for mode in modes:
        per = summary[mode]["scale"]
        _curve(left, sizes, per, "program_s", label=mode, color=_color(mode))
        for ax, pct in ((middle, 50), (right, 99)):
            _curve(ax, sizes, per, f"last_p{pct}_ms", label=f"{mode}, last", color=_color(mode))
            _curve(ax, sizes, per, f"first_p{pct}_ms", label=f"{mode}, first", color=_color(mode), linestyle="--",
                   alpha=0.6)
        for n in sizes:
            if f"timeout_s@{n}" in per:
                t = per[f"timeout_s@{n}"]["max"]
                left.scatter([n], [t], marker="x", color=_color(mode), s=60)
                left.annotate("timeout", (n, t), fontsize=7, xytext=(4, 4), textcoords="offset points")
    for ax, title, ylabel in ((left, "time to program, write to serving", "seconds"),
                              (middle, "new connection p50 (first, last Service)", "ms"),
                              (right, "new connection p99 (first, last Service)", "ms")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Services")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))    # labels within a decade
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: fmt(v)))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Services at scale", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def draw(out: Path, workloads: list, titles: dict, modes: list[str], summary: dict) -> list[Path]:
    """Every chart this run has figures for, as PNG files in `out`."""
    paths = []
    for wl in workloads:
        if wl.name == "scale":
            p = scale_chart(out / "scale.png", modes, summary)
        else:
            p = workload_chart(out / f"{wl.name}.png", titles.get(wl.name, wl.title), wl.metrics, modes, summary,
                               wl.name)
        if p:
            paths.append(p)
    return paths
