"""What one load run cost, read around it (Meter): CPU seconds split into the load
balancer's processes and kernel softirq, the noise from other users of the machine,
and the TCP counters that must stay 0.

- lb_cpu_s: utime+stime of the mode's processes (lb, haproxy, nginx; a kernel mode has
  none). On a kernel without CONFIG_IRQ_TIME_ACCOUNTING (this one) a softirq that runs
  in a process's context on return from a syscall is charged to its stime too: on veth,
  a send runs the receiver's TCP input in the sender's context.
- softirq_s: the machine's softirq time over the run (/proc/stat, every CPU). Namespaces
  have no CPUs of their own, so this is all packet processing on the box: client,
  lb node and endpoint hosts (and other users' traffic: see foreign_cpu_pct). Kernel
  modes' DNAT work is found here. It overlaps lb_cpu_s (see above).
- foreign_cpu_pct: busy time of the machine minus every process in our namespaces and
  the harness's own children, as % of all CPUs: an upper bound of the noise.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

WATCHED_COUNTERS = ("TcpExtTCPSynRetrans", "TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtPAWSTimewait",
                    "TcpExtTCPTimeouts", "TcpRetransSegs")
_TICK = os.sysconf("SC_CLK_TCK")
# /proc/stat cpu fields: user nice system idle iowait irq softirq steal ...
_IDLE, _IOWAIT, _IRQ, _SOFTIRQ = 3, 4, 5, 6


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


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


def machine_cpu() -> dict[str, float]:
    """Busy, total and softirq CPU seconds of the whole machine since boot."""
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return {"busy": (sum(vals) - vals[_IDLE] - vals[_IOWAIT]) / _TICK, "total": sum(vals) / _TICK,
            "softirq": (vals[_SOFTIRQ] + vals[_IRQ]) / _TICK}


def own_seconds() -> float:
    """CPU time of the harness and of the children it has waited for (wrk, iperf3 -c)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


class Meter:
    """Counters around one run of a mode."""

    def __init__(self, topo, mode):
        self.topo, self.mode = topo, mode

    def __enter__(self):
        self.t0 = time.monotonic()
        self.lb0 = cpu_seconds(self.mode.pids())
        self.ns_pids = self.topo.namespace_pids()
        self.ns0 = cpu_seconds(self.ns_pids)
        self.own0 = own_seconds()
        self.machine0 = machine_cpu()
        self.client0 = self.topo.netstat("client")
        self.lbns0 = self.topo.netstat("lb")
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.lb_cpu = cpu_seconds(self.mode.pids()) - self.lb0
        machine1 = machine_cpu()
        self.softirq = machine1["softirq"] - self.machine0["softirq"]
        ours = cpu_seconds(self.ns_pids) - self.ns0 + own_seconds() - self.own0
        busy = machine1["busy"] - self.machine0["busy"]
        self.foreign_pct = max(0.0, 100.0 * (busy - ours) / max(machine1["total"] - self.machine0["total"], 1e-9))
        client1, lbns1 = self.topo.netstat("client"), self.topo.netstat("lb")
        self.client = {k: client1.get(k, 0) - self.client0.get(k, 0) for k in WATCHED_COUNTERS}
        self.lbns = {k: lbns1.get(k, 0) - self.lbns0.get(k, 0) for k in WATCHED_COUNTERS}
        return False

    def fields(self) -> dict:
        out = {"softirq_s": round(self.softirq, 3), "syn_retrans": self.client["TcpExtTCPSynRetrans"],
               "lb_listen_drops": self.lbns["TcpExtListenDrops"], "foreign_cpu_pct": round(self.foreign_pct, 1)}
        if self.mode.proxy:
            out["lb_cpu_s"] = round(self.lb_cpu, 3)
            out["lb_cpu_pct"] = round(100.0 * self.lb_cpu / max(self.wall, 1e-9), 1)
        return out
