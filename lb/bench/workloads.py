"""The load, always driven from the client namespace and always bounded in time and count.

  bulk1, bulk8  iperf3 -c <bulk virtual server> -t S -P 1|8; received Gbit/s. The bulk
                Service has one endpoint, so iperf3's control connection and its data
                connections reach the same iperf3 server whatever the scheduler.
  cps           wrk -H 'Connection: close': each request on a new connection, so requests/s
                is connections/s; p50/p99 from --latency (wrk's clock starts when the
                request is written, so the handshake is not in the latency).
  keepalive     wrk with persistent connections; requests/s and p50/p99.
  idle          IDLE_CONNECTIONS connections opened at a bounded rate and held; the peer's
                resident memory before and after gives bytes per connection.

Each result also carries the peer's CPU time over the run (utime+stime of its processes)
and the client's TcpExtTCPSynRetrans delta, which must stay 0: a retransmitted SYN costs
a second and wrecks p99.

`python -m lb.bench.workloads idle-client IP PORT N RATE HOLD` is the idle client.
"""
from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

WRK_THREADS = 1
WRK_CONNECTIONS = 64
IDLE_CONNECTIONS = 9000
IDLE_RATE = 3000          # connections opened per second
IDLE_HOLD_MAX = 60.0      # the idle client closes everything after this long, whatever happens
IDLE_SETTLE_TIMEOUT = 15.0

WATCHED_COUNTERS = ("TcpExtTCPSynRetrans", "TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtPAWSTimewait",
                    "TcpExtTCPTimeouts", "TcpRetransSegs")


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of the processes (all their threads), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(vals) - vals[3] - vals[4]) / ticks, sum(vals) / ticks


def _own_seconds() -> float:
    """CPU time of the harness and of the children it has waited for (wrk, iperf3 -c)."""
    import resource
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


class Probe:
    """Counters around one run: the peer's CPU time and the namespaces' TCP counters."""

    def __init__(self, topo, peer):
        self.topo, self.peer = topo, peer

    def __enter__(self):
        self.t0 = time.monotonic()
        self.cpu0 = cpu_seconds(self.peer.pids())
        self.ns_pids = self.topo.namespace_pids()
        self.ns0 = cpu_seconds(self.ns_pids)
        self.own0 = _own_seconds()
        self.busy0, self.total0 = machine_busy_seconds()
        self.client0 = self.topo.netstat("client")
        self.lb0 = self.topo.netstat("lb")
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.peer.pids()) - self.cpu0
        busy1, total1 = machine_busy_seconds()
        ours = cpu_seconds(self.ns_pids) - self.ns0 + _own_seconds() - self.own0
        # CPU the machine spent on anything but this benchmark (other users of the box),
        # as % of all CPUs: the noise under this run. Softirq work charged to idle or to
        # ksoftirqd counts as foreign, so it is an upper bound.
        self.foreign_pct = max(0.0, 100.0 * (busy1 - self.busy0 - ours) / max(total1 - self.total0, 1e-9))
        client1, lb1 = self.topo.netstat("client"), self.topo.netstat("lb")
        self.client = {k: client1.get(k, 0) - self.client0.get(k, 0) for k in WATCHED_COUNTERS}
        self.lb = {k: lb1.get(k, 0) - self.lb0.get(k, 0) for k in WATCHED_COUNTERS}
        return False

    def fields(self, busy_seconds: float) -> dict:
        out = {"syn_retrans": self.client["TcpExtTCPSynRetrans"],
               "lb_listen_drops": self.lb["TcpExtListenDrops"],
               "foreign_cpu_pct": round(self.foreign_pct, 1)}
        if self.peer.proxy:
            out["cpu_s"] = round(self.cpu, 3)
            out["cpu_pct"] = round(100.0 * self.cpu / busy_seconds, 1)
        return out


def run_bulk(topo, peer, streams: int, duration: int) -> dict:
    ip, port = peer.bulk()
    argv = ["iperf3", "-c", ip, "-p", str(port), "-t", str(duration), "-P", str(streams), "-J",
            "--connect-timeout", "3000"]
    with Probe(topo, peer) as probe:
        r = topo.run("client", argv, timeout=duration + 30)
    try:
        data = json.loads(r.stdout)
    except json.JSONDecodeError:
        return {"error": (r.stderr or r.stdout).strip()[:300]}
    if "error" in data:
        return {"error": data["error"]}
    end = data["end"]
    return {"gbps": round(end["sum_received"]["bits_per_second"] / 1e9, 3),
            "retransmits": end["sum_sent"].get("retransmits", 0), **probe.fields(duration)}


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


def run_wrk(topo, peer, duration: int, close: bool, threads: int = WRK_THREADS,
            connections: int = WRK_CONNECTIONS) -> dict:
    ip, port = peer.web()
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(f"http://{ip}:{port}/")
    with Probe(topo, peer) as probe:
        r = topo.run("client", argv, timeout=duration + 30)
    res = parse_wrk(r.stdout)
    if "rps" not in res:
        return {"error": (r.stderr or r.stdout).strip()[:300]}
    res.update(probe.fields(duration))
    return res


def _established(topo, roles, port: int) -> list[int]:
    """Established connections to port, per namespace."""
    out = []
    for role in roles:
        r = topo.run(role, ["ss", "-Htn", "state", "established", f"( sport = :{port} )"], timeout=10)
        out.append(len(r.stdout.splitlines()))
    return out


def _slab_object_size(name: str) -> int | None:
    try:
        for line in Path("/proc/slabinfo").read_text().splitlines():
            if line.startswith(name + " "):
                return int(line.split()[3])
    except OSError:
        pass
    return None


def run_idle(topo, peer, count: int = IDLE_CONNECTIONS, rate: int = IDLE_RATE) -> dict:
    """Hold `count` connections through the peer and read what they cost it."""
    from lb.bench.peers import REPO
    from lb.bench.topology import BACKEND_ROLES, PYTHON
    if peer.name == "direct":
        return {"skipped": "no proxy in the path"}
    ip, port = peer.web()
    rss0 = rss_bytes(peer.pids())
    argv = ["ip", "netns", "exec", topo.ns("client"), PYTHON, "-m", "lb.bench.workloads", "idle-client",
            ip, str(port), str(count), str(rate), str(IDLE_HOLD_MAX)]
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=str(REPO), start_new_session=True)
    topo.procs.append(client)
    res: dict = {}
    try:
        ready, _, _ = select.select([client.stdout], [], [], count / rate + 30)
        line = client.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            return {"error": f"idle client: {line.strip() or 'no answer'} {client.stderr.read()[:300] if client.poll() is not None else ''}"}
        opened = int(line.split()[1])
        deadline = time.monotonic() + IDLE_SETTLE_TIMEOUT
        split = _established(topo, BACKEND_ROLES, port)
        while sum(split) < opened and time.monotonic() < deadline:
            time.sleep(0.5)
            split = _established(topo, BACKEND_ROLES, port)
        time.sleep(1.0)
        rss1 = rss_bytes(peer.pids())
        res = {"opened": opened, "at_backends": sum(split), "split": "/".join(map(str, split))}
        if peer.proxy:
            res.update(rss_before_mb=round(rss0 / 2**20, 1), rss_after_mb=round(rss1 / 2**20, 1),
                       bytes_per_conn=round((rss1 - rss0) / max(opened, 1)))
        elif peer.name == "dnat":
            # Kernel memory, not a process's: each connection is one conntrack entry.
            # (nf_conntrack_count also moves with entries of earlier runs expiring, so
            # the entry size is reported, not a delta.)
            res.update(bytes_per_conn=_slab_object_size("nf_conntrack"),
                       note="kernel: one nf_conntrack slab object per connection, no socket in the lb namespace")
    finally:
        try:
            client.stdin.close()
        except OSError:
            pass
        topo.stop(client)
    return res


PERF_FREQ = 499
PROFILE_TOP_LINES = 40


def _rate(topo, peer, workload: str, duration: int):
    if workload == "bulk8":
        return run_bulk(topo, peer, 8, duration).get("gbps")
    return run_wrk(topo, peer, duration, close=(workload == "cps")).get("rps")


def profile(topo, peer, duration: int, workload: str = "cps") -> dict:
    """Two extra runs of `workload` (cps, keepalive or bulk8; not in the table): one under
    `perf record -g` of the peer's processes, one under `strace -c -f`. Returns the perf
    report (by object, then flat by symbol) and the syscall summary as text, and the
    rate each run reached (both tools slow the peer; strace a lot)."""
    pids = ",".join(str(p) for p in peer.pids())
    if not pids:
        return {"error": "no process to profile"}
    out: dict = {"workload": workload}
    data = topo.workdir / f"perf-{peer.name}.data"
    perf = subprocess.Popen(["perf", "record", "-F", str(PERF_FREQ), "-g", "-o", str(data), "-p", pids,
                             "--", "sleep", str(duration)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    topo.procs.append(perf)
    out["rate_under_perf"] = _rate(topo, peer, workload, duration)
    try:
        perf.wait(duration + 30)
    finally:
        topo.stop(perf)
    r = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "--stdio",
                        "-g", "none", "--percent-limit", "0.5"], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    out["perf"] = "\n".join(lines[:PROFILE_TOP_LINES])
    r = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "--stdio",
                        "-g", "none", "--percent-limit", "0.5"], capture_output=True, text=True, timeout=300)
    out["perf_dso"] = "\n".join(ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#"))
    trace = topo.workdir / f"strace-{peer.name}.txt"
    strace = subprocess.Popen(["timeout", "-s", "INT", str(duration), "strace", "-c", "-f", "-o", str(trace),
                               "-p", pids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    topo.procs.append(strace)
    time.sleep(0.5)
    out["rate_under_strace"] = _rate(topo, peer, workload, max(duration - 1, 1))
    try:
        strace.wait(duration + 30)
    finally:
        topo.stop(strace)
    try:
        out["strace"] = "\n".join(trace.read_text().splitlines()[:PROFILE_TOP_LINES // 2])
    except OSError:
        out["strace"] = "(no strace output)"
    return out


def idle_client(ip: str, port: int, count: int, rate: float, hold: float) -> int:
    """Open `count` connections to ip:port at most `rate` per second, print 'ready <n>',
    hold them until stdin closes or `hold` seconds pass, then close them all."""
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks: list[socket.socket] = []
    poller = select.poll()
    pending: dict[int, socket.socket] = {}
    ok = 0
    t0 = time.monotonic()
    batch = 100
    while len(socks) < count:
        for _ in range(min(batch, count - len(socks))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((ip, port))
            socks.append(s)
            pending[s.fileno()] = s
            poller.register(s, select.POLLOUT)
        deadline = time.monotonic() + 5.0
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(200):
                s = pending.pop(fd)
                poller.unregister(fd)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    ok += 1
        for fd in list(pending):
            poller.unregister(fd)
            pending.pop(fd)
        pause = t0 + len(socks) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    print(f"ready {ok} {time.monotonic() - t0:.2f}", flush=True)
    select.select([sys.stdin], [], [], hold)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "idle-client":
        sys.exit(idle_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]),
                             float(sys.argv[6])))
    sys.exit("usage: python -m lb.bench.workloads idle-client IP PORT N RATE HOLD")
