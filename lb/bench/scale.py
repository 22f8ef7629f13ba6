"""The scale workload: the cost of many Services, the curve kube-proxy's iptables mode is
known for (kubernetes/kubernetes #48107, #96018).

For each size N (default 10, 100, 1,000, 10,000): N generated ClusterIP Services, each
with one endpoint taken in turn from the HTTP target's endpoints (the same hosts and
servers, so nothing new runs), are added to the user's manifests, and the mode
programs them all:
- program_s@N: from the write (iptables-restore / nft -f / ipvsadm-restore starting, or
  the manifest file renamed into lb's watched folder) until a real connection to the
  last Service is answered by its endpoint. Rendering the rules is not timed (kube-proxy
  computes its own); lb's time includes reading the manifests and its watch debounce.
- program_cpu_s@N: CPU seconds spent meanwhile by the mode's processes (lb) and by the
  loader the harness ran (iptables-restore, nft).
- first_p50_ms@N, first_p99_ms@N, last_…: `latency_samples` sequential new connections
  (connect, request, response) to the first and to the last generated Service.
- change_s@N (largest size only): the last Service's endpoint moves to another endpoint;
  from the write until traffic to it reaches the new one. iptables and nftables load
  kube-proxy's partial sync for it (lb.bench.incremental), lb reloads its folder.
A step that does not serve within its timeout is recorded as timeout_s@N and the larger
sizes are not attempted.
"""
from __future__ import annotations

import ipaddress
import math
import resource
import time
from pathlib import Path

from lb.bench.accounting import cpu_seconds
from lb.bench.backends import identity
from lb.bench.workloads import Metric, Options, RunContext, Workload

SCALE_NAMESPACE = "lbbench-scale"
SERVICE_PORT = 80
RANGE_CHOICES = ("10.200.0.0/16", "10.201.0.0/16", "172.30.0.0/16")


def program_timeout(n: int) -> float:
    """Generous for lb today (~35 s for 10,000 Services) and nft (~45 s here)."""
    return 30.0 + 0.02 * n


def change_timeout(n: int) -> float:
    return 30.0 + 0.01 * n


def percentile(samples: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(pct / 100.0 * len(ordered)) - 1))]


def service_manifests(cluster_ips: list[str], endpoints: list[tuple[str, int]], moved: bool = False) -> str:
    """YAML for len(cluster_ips) Services svc-00000... in SCALE_NAMESPACE, each with one
    Endpoints object; Service i's endpoint is endpoints[i % len]. moved: the last
    Service's endpoint is the next one instead (the endpoint change)."""
    docs = []
    last = len(cluster_ips) - 1
    for i, ip in enumerate(cluster_ips):
        ep_ip, ep_port = endpoints[(i + (1 if moved and i == last else 0)) % len(endpoints)]
        name = f"svc-{i:05d}"
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {SCALE_NAMESPACE}}}
spec:
  clusterIP: {ip}
  ports: [{{name: http, port: {SERVICE_PORT}, targetPort: {ep_port}, protocol: TCP}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: {name}, namespace: {SCALE_NAMESPACE}}}
subsets:
- addresses: [{{ip: {ep_ip}}}]
  ports: [{{name: http, port: {ep_port}, protocol: TCP}}]
""")
    return "---\n".join(docs)


class ScaleStep:
    """One set of generated Services (N of them, the last one moved or not) and what the
    modes derive from it, built on first use and kept for every mode and repeat."""

    def __init__(self, plan: "ScalePlan", n: int, moved: bool):
        self.plan, self.n, self.moved = plan, n, moved
        self.path = plan.workdir / f"services-{n}{'-moved' if moved else ''}.yaml"
        self.path.write_text(service_manifests(plan.cluster_ips[:n], plan.endpoints, moved))
        self._derived: dict = {}

    def snapshot(self):
        """The user's manifests plus these Services, as lb loads them."""
        return self.derived("snapshot", self._build_snapshot)

    def _build_snapshot(self):
        from lb.config.loader import load_paths
        from lb.snapshot.build import build_snapshot
        return build_snapshot(load_paths([*self.plan.services.paths, str(self.path)]))

    def derived(self, key, make):
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

    def endpoint_of(self, i: int) -> tuple[str, int]:
        shift = 1 if self.moved and i == self.n - 1 else 0
        return self.plan.endpoints[(i + shift) % len(self.plan.endpoints)]


class ScalePlan:
    """The generated Services' addresses and files for one bench run."""

    def __init__(self, services, workdir: Path, used_addresses: set[str]):
        self.services = services
        self.workdir = workdir / "scale"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.endpoints = list(services.http.endpoints) if services.http else []
        self.cluster_ips = _free_addresses(used_addresses)
        self._steps: dict = {}

    def step(self, n: int, moved: bool = False) -> ScaleStep:
        if (n, moved) not in self._steps:
            self._steps[n, moved] = ScaleStep(self, n, moved)
        return self._steps[n, moved]


def _free_addresses(used: set[str], limit: int = 65000) -> list[str]:
    for cidr in RANGE_CHOICES:
        net = ipaddress.ip_network(cidr)
        if not any(ipaddress.ip_address(ip) in net for ip in used if ":" not in ip):
            return [str(ip) for _, ip in zip(range(limit), net.hosts())]
    raise ValueError(f"the manifests use addresses in every range scale could take ({', '.join(RANGE_CHOICES)})")


def _children_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _until_endpoint(ctx: RunContext, step: ScaleStep, i: int, timeout: float) -> dict:
    ip = ctx.scale_plan.cluster_ips[i]
    return ctx.probe.until(ip, SERVICE_PORT, timeout, expect=identity(*step.endpoint_of(i)))


def _timed_apply(ctx: RunContext, step: ScaleStep, timeout: float) -> tuple[float | None, float, str]:
    """Program `step` and wait until its last Service answers: (seconds or None on
    timeout, CPU seconds, error text)."""
    prepared = ctx.mode.prepare(step, change=step.moved)
    cpu0 = cpu_seconds(ctx.mode.pids()) + _children_seconds()
    t0 = time.monotonic()
    try:
        ctx.mode.apply(prepared, timeout)
    except TimeoutError as e:
        return None, cpu_seconds(ctx.mode.pids()) + _children_seconds() - cpu0, str(e)
    res = _until_endpoint(ctx, step, step.n - 1, max(timeout - (time.monotonic() - t0), 1.0))
    cpu = cpu_seconds(ctx.mode.pids()) + _children_seconds() - cpu0
    if not res.get("ok"):
        return None, cpu, res.get("error", "")
    return res["at"] - t0, cpu, ""


def _latency_fields(ctx: RunContext, n: int) -> dict:
    out: dict = {}
    count = ctx.options.latency_samples
    for which, i in (("first", 0), ("last", n - 1)):
        res = ctx.probe.latency(ctx.scale_plan.cluster_ips[i], SERVICE_PORT, count, timeout=30.0 + count * 0.1)
        samples = res.get("samples_ms", [])
        for pct in (50, 99):
            value = percentile(samples, pct)
            if value is not None:
                out[f"{which}_p{pct}_ms@{n}"] = round(value, 3)
        if res.get("errors"):
            out[f"{which}_errors@{n}"] = res["errors"]
    return out


def run_scale(ctx: RunContext) -> dict:
    plan = ctx.scale_plan
    out: dict = {}
    sizes = sorted(ctx.options.scale_sizes)
    for n in sizes:
        step = plan.step(n)
        seconds, cpu, error = _timed_apply(ctx, step, program_timeout(n))
        out[f"program_cpu_s@{n}"] = round(cpu, 3)
        if seconds is None:
            out[f"timeout_s@{n}"] = round(program_timeout(n), 1)
            out["error"] = (f"{n} Services: the last one not answered by its endpoint within "
                            f"{program_timeout(n):.0f}s ({error}); larger sizes not attempted")
            return out
        out[f"program_s@{n}"] = round(seconds, 3)
        out.update(_latency_fields(ctx, n))
    n = sizes[-1]
    if len(plan.endpoints) < 2:
        out["note"] = "endpoint change not measured: the HTTP target has one endpoint"
        return out
    seconds, cpu, error = _timed_apply(ctx, plan.step(n, moved=True), change_timeout(n))
    out[f"change_cpu_s@{n}"] = round(cpu, 3)
    if seconds is None:
        out[f"change_timeout_s@{n}"] = round(change_timeout(n), 1)
        out["error"] = f"endpoint change at {n} Services: not seen within {change_timeout(n):.0f}s ({error})"
    else:
        out[f"change_s@{n}"] = round(seconds, 3)
    return out


def scale_estimate(o: Options) -> float:
    """Seconds, for the ETA: lb and nft take ~5 ms per Service today, plus the latency samples."""
    return sum(2.0 + 0.005 * n + 2 * o.latency_samples * 0.002 for n in o.scale_sizes) + 0.005 * max(o.scale_sizes)


def _skip(mode) -> str | None:
    if mode.scales:
        return None
    return f"{mode.name} has no Services to program (scale measures kube-proxy's rule loading and lb's reload)"


SCALE = Workload("scale", "Services: time to program, latency of a new connection to the first and last",
                 "http", run_scale, scale_estimate, (Metric("program_s", "time to program (s)", False),),
                 skip_for=_skip)
