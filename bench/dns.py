#!/usr/bin/env python3
"""lb's cluster DNS against dnsmasq answering the same names from a hosts file (kube-dns was
dnsmasq in front of skydns), measured with dnsperf in one run, rounds interleaved.

    .venv/bin/python bench/dns.py                      # 1,000 Services, 3 rounds x 10 s each
    .venv/bin/python bench/dns.py --services 10000 --rounds 5 --seconds 20 --rate 2000

Needs dnsperf and dnsmasq (Debian: apt-get install dnsperf dnsmasq-base). Everything listens
on 127.0.0.1; lb's clusterIPs are 127.77.x.y (loopback: nothing is added to any interface).
Three loads per server: saturation (dnsperf's default 100 queries outstanding) gives queries
per second and its p99; "uncached" is saturation with every query's name in a new letter
case (DNS 0x20), so each misses lb's answer cache (bytes after the id) and takes the full
parse-and-answer path, while dnsmasq's lookup ignores case; a fixed rate (--rate) gives the
p99 a lightly loaded server adds.
p99 comes from dnsperf -v's per-query latencies. Prints a Markdown table; ratios are lb/dnsmasq
of the same round.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZONE = "cluster.local"


def free_port() -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def write_inputs(d: Path, n: int) -> tuple[Path, Path, Path]:
    manifests, hosts, queries = d / "services.yaml", d / "hosts", d / "queries"
    docs, host_lines, query_lines = [], [], []
    for i in range(n):
        ip = f"127.77.{i // 250}.{i % 250 + 1}"
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: bench}}\n"
                    f"spec:\n  clusterIP: {ip}\n  ports: [{{name: http, port: 80, protocol: TCP}}]\n")
        host_lines.append(f"{ip} svc-{i}.bench.svc.{ZONE}\n")
        query_lines.append(f"svc-{i}.bench.svc.{ZONE} A\n")
    manifests.write_text("---\n".join(docs))
    hosts.write_text("".join(host_lines))
    queries.write_text("".join(query_lines))
    return manifests, hosts, queries


def write_mixed_case(d: Path, queries: Path, lines: int, seed: int) -> Path:
    rnd = random.Random(seed)
    names = queries.read_text().splitlines()
    out = d / f"queries-case-{seed}"
    out.write_text("".join("".join(c.upper() if rnd.random() < 0.5 else c for c in names[i % len(names)]) + "\n"
                           for i in range(lines)))
    return out


def wait_answer(port: int, name: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=1", "+tries=1", name],
                             capture_output=True, text=True).stdout.strip()
        if out and not out.startswith(";"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no answer for {name} on port {port}")


def dnsperf(port: int, queries: Path, seconds: float, rate: int | None, once: bool = False) -> dict:
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds), "-v"]
    if once:
        argv += ["-n", "1"]
    if rate:
        argv += ["-Q", str(rate)]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    lat = sorted(float(m.group(1)) for m in re.finditer(r"^> \w+ \S+ \S+ ([0-9.]+)$", out, re.M))
    qps = float(re.search(r"Queries per second:\s+([0-9.]+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan"))
    return {"qps": qps, "p50_ms": p(0.50), "p99_ms": p(0.99), "lost": lost, "answers": len(lat)}


def loads_of(rate: int) -> tuple[tuple[str, int | None], ...]:
    return (("saturation", None), ("uncached", None), (f"{rate} qps", rate))


def start_lb(manifests: Path, port: int, log: Path) -> subprocess.Popen:
    python = os.environ.get("PYTHON") or (str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists()
                                          else sys.executable)
    return subprocess.Popen([python, "-m", "lb", "run", "-f", str(manifests), "--workers", "1",
                             "--metrics-bind-address", "127.0.0.1:0", "--dns-bind-address", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"), cwd=ROOT)


def start_dnsmasq(hosts: Path, port: int, n: int) -> subprocess.Popen:
    return subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", f"--port={port}",
                             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                             f"--addn-hosts={hosts}", "--local-ttl=5", f"--cache-size={max(150, n)}",
                             "--user=root", "--pid-file="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=int, default=2000, help="queries per second of the fixed-rate load")
    args = ap.parse_args()
    for tool in ("dnsperf", "dnsmasq", "dig"):
        if not shutil.which(tool):
            print(f"bench/dns.py: {tool} is missing (apt-get install dnsperf dnsmasq-base dnsutils)", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="lb-dns-bench-") as tmp:
        d = Path(tmp)
        manifests, hosts, queries = write_inputs(d, args.services)
        lb_port, masq_port = free_port(), free_port()
        lb = start_lb(manifests, lb_port, d / "lb.log")
        masq = start_dnsmasq(hosts, masq_port, args.services)
        try:
            probe = f"svc-{args.services - 1}.bench.svc.{ZONE}"
            wait_answer(lb_port, probe, lb)
            wait_answer(masq_port, probe, masq)
            rows = []
            for r in range(args.rounds):
                for load, rate in loads_of(args.rate):
                    if load == "uncached":
                        mixed = write_mixed_case(d, queries, 100_000, r)    # ~40k qps x a few s, then -n 1 ends it
                        a = dnsperf(lb_port, mixed, args.seconds, None, once=True)
                        b = dnsperf(masq_port, mixed, args.seconds, None, once=True)
                    else:
                        a = dnsperf(lb_port, queries, args.seconds, rate)
                        b = dnsperf(masq_port, queries, args.seconds, rate)
                    rows.append((r + 1, load, a, b))
        finally:
            stop(lb)
            stop(masq)
    print(f"{args.services} Services, {args.seconds:g} s per run, {os.cpu_count()} CPUs (shared: figures are noisy;"
          " compare ratios of the same round)\n")
    print("| round | load | lb qps | dnsmasq qps | qps lb/dnsmasq | lb p50 ms | lb p99 ms | dnsmasq p50 ms "
          "| dnsmasq p99 ms | p99 lb/dnsmasq | lost lb/dnsmasq |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r, load, a, b in rows:
        print(f"| {r} | {load} | {a['qps']:.0f} | {b['qps']:.0f} | {a['qps'] / b['qps']:.2f} | {a['p50_ms']:.3f} "
              f"| {a['p99_ms']:.3f} | {b['p50_ms']:.3f} | {b['p99_ms']:.3f} | {a['p99_ms'] / b['p99_ms']:.1f} "
              f"| {a['lost']}/{b['lost']} |")
    for load, _ in loads_of(args.rate):
        sel = [(a, b) for _, l, a, b in rows if l == load]
        print(f"\nmedian {load}: qps ratio {statistics.median(a['qps'] / b['qps'] for a, b in sel):.2f}, "
              f"p99 ratio {statistics.median(a['p99_ms'] / b['p99_ms'] for a, b in sel):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
