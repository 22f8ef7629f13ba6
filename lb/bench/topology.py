"""The test bed: five network namespaces, the links between them, and every process
started inside them.

    client 10.0.0.2 ──veth── lb 10.0.0.1 | 10.1.0.1 ──veth vb1── b1 10.1.0.11
                                                  ├─veth vb2── b2 10.1.0.12
                                                  └─veth vb3── b3 10.1.0.13

The lb namespace is the router: the client's default route and every backend's
default route point at it, so kernel DNAT needs no SNAT (replies come back through
the lb namespace and conntrack reverses the translation), and the proxies see the
client's real address. The virtual servers (WEB_VIP, BULK_VIP) are routed to the lb
namespace by the client's default route; a proxy peer puts them on the lb
namespace's loopback, kernel DNAT rewrites them in PREROUTING.

Addresses exist only inside these namespaces. Namespaces are named
lbbench-<role>-<pid of the harness>; `cleanup_leftovers` removes the ones whose
harness is gone. Every process is started through `spawn` in its own process group
and is killed by that group on `down`.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

PREFIX = "lbbench"
ROLES = ("client", "lb", "b1", "b2", "b3")
BACKEND_ROLES = ("b1", "b2", "b3")

CLIENT_IP = "10.0.0.2"
LB_CLIENT_SIDE_IP = "10.0.0.1"
LB_BACKEND_SIDE_IP = "10.1.0.1"
BACKEND_IPS = ("10.1.0.11", "10.1.0.12", "10.1.0.13")
WEB_VIP, WEB_PORT = "10.96.0.10", 80        # Service bench/web: three nginx endpoints
BULK_VIP, BULK_PORT = "10.96.0.11", 5201    # Service bench/bulk: one iperf3 endpoint (b1)
VIPS = (WEB_VIP, BULK_VIP)

# A single client address opening 20k connections/s reuses its ports while the far end
# still holds them in TIME_WAIT; the far end then drops the SYN (TcpExtPAWSTimewait) and
# the client retransmits it a second later. No TIME_WAIT buckets on the accepting sides.
COMMON_SYSCTLS = {
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.core.somaxconn": "65535",
    "net.ipv4.tcp_max_syn_backlog": "65535",
}
ROLE_SYSCTLS = {
    "client": {"net.ipv4.tcp_tw_reuse": "1"},
    "lb": {"net.ipv4.tcp_max_tw_buckets": "0", "net.ipv4.ip_forward": "1"},
    "b1": {"net.ipv4.tcp_max_tw_buckets": "0"},
    "b2": {"net.ipv4.tcp_max_tw_buckets": "0"},
    "b3": {"net.ipv4.tcp_max_tw_buckets": "0"},
}

STOP_GRACE = 5.0
PYTHON = sys.executable


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def list_namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    """True while pid runs (a zombie, killed but not reaped, is gone for our purpose)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill_namespace_processes(ns: str) -> None:
    """Kill what is left inside one of our namespaces (processes we started there)."""
    out = _ip("netns", "pids", ns, check=False).stdout.split()
    for pid in (int(p) for p in out if p.isdigit()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cleanup_leftovers(log=print) -> int:
    """Delete lbbench-<role>-<pid> namespaces whose harness process is gone.

    Namespaces of a harness that still runs are left alone. Returns how many were removed.
    """
    removed = 0
    pattern = re.compile(rf"^{PREFIX}-({'|'.join(ROLES)})-(\d+)$")
    for ns in list_namespaces():
        m = pattern.match(ns)
        if not m or _pid_alive(int(m.group(2))):
            continue
        _kill_namespace_processes(ns)
        _ip("netns", "del", ns, check=False)
        log(f"removed namespace={ns}")
        removed += 1
    return removed


class Topology:
    """Owns the namespaces, their links and the processes started in them."""

    def __init__(self, workdir: Path, tag: int | None = None):
        self.tag = os.getpid() if tag is None else tag
        self.workdir = Path(workdir)
        self.procs: list[subprocess.Popen] = []
        self.created: list[str] = []

    def ns(self, role: str) -> str:
        return f"{PREFIX}-{role}-{self.tag}"

    # -- namespaces and links ---------------------------------------------------------
    def up(self) -> None:
        for role in ROLES:
            _ip("netns", "add", self.ns(role))
            self.created.append(self.ns(role))
        lb, client = self.ns("lb"), self.ns("client")
        _ip("-n", lb, "link", "add", "l0", "type", "veth", "peer", "name", "c0", "netns", client)
        # One routed veth per backend, no bridge: with br_netfilter loaded, frames entering
        # a bridge pass through netfilter hooks, a cost for every peer that has nothing to
        # do with them. The lb side of each link holds LB_BACKEND_SIDE_IP/32 and a host
        # route to its backend.
        for i, (role, ip) in enumerate(zip(BACKEND_ROLES, BACKEND_IPS)):
            dev = f"vb{i + 1}"
            _ip("-n", lb, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", self.ns(role))
            _ip("-n", lb, "addr", "add", f"{LB_BACKEND_SIDE_IP}/32", "dev", dev)
            _ip("-n", lb, "link", "set", dev, "up")
            _ip("-n", lb, "route", "add", f"{ip}/32", "dev", dev, "src", LB_BACKEND_SIDE_IP)
        for role in ROLES:
            _ip("-n", self.ns(role), "link", "set", "lo", "up")
        _ip("-n", lb, "addr", "add", f"{LB_CLIENT_SIDE_IP}/24", "dev", "l0")
        _ip("-n", lb, "link", "set", "l0", "up")
        _ip("-n", client, "addr", "add", f"{CLIENT_IP}/24", "dev", "c0")
        _ip("-n", client, "link", "set", "c0", "up")
        _ip("-n", client, "route", "add", "default", "via", LB_CLIENT_SIDE_IP)
        for role, ip in zip(BACKEND_ROLES, BACKEND_IPS):
            _ip("-n", self.ns(role), "addr", "add", f"{ip}/24", "dev", "eth0")
            _ip("-n", self.ns(role), "link", "set", "eth0", "up")
            _ip("-n", self.ns(role), "route", "add", "default", "via", LB_BACKEND_SIDE_IP)
        for role in ROLES:
            self.sysctl(role, {**COMMON_SYSCTLS, **ROLE_SYSCTLS[role]})

    def down(self) -> None:
        """Kill every process started here, then delete the namespaces. Idempotent."""
        for p in reversed(self.procs):
            self.stop(p)
        self.procs.clear()
        for ns in self.created:
            if ns in list_namespaces():
                _kill_namespace_processes(ns)
                _ip("netns", "del", ns, check=False)
        self.created.clear()

    def sysctl(self, role: str, values: dict[str, str], check: bool = True) -> None:
        args = [f"{k}={v}" for k, v in values.items()]
        subprocess.run(["ip", "netns", "exec", self.ns(role), "sysctl", "-q", "-w", *args],
                       check=check, capture_output=True, timeout=30)

    def set_vips(self, present: bool) -> None:
        """Put the virtual server addresses on the lb namespace's loopback, or take them off.
        Reads what is there first: `lb run` adds and removes them on lo too."""
        have = _ip("-n", self.ns("lb"), "-o", "addr", "show", "dev", "lo", check=False).stdout
        for vip in VIPS:
            there = f" {vip}/32 " in have
            if present and not there:
                _ip("-n", self.ns("lb"), "addr", "add", f"{vip}/32", "dev", "lo")
            elif not present and there:
                _ip("-n", self.ns("lb"), "addr", "del", f"{vip}/32", "dev", "lo", check=False)

    # -- processes --------------------------------------------------------------------
    def spawn(self, role: str, argv: list[str], log_name: str | None = None, **kw) -> subprocess.Popen:
        """Start argv inside a namespace in a new process group; stdout+stderr go to a log file."""
        if log_name:
            log = open(self.workdir / log_name, "ab")
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", subprocess.STDOUT)
        else:
            kw.setdefault("stdout", subprocess.DEVNULL)
            kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role), *argv], start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        """Stop one process group we started: sig, then SIGKILL after STOP_GRACE seconds."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
                p.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(STOP_GRACE)
            except ProcessLookupError:
                pass
        else:
            try:     # the leader exited; children of its group may remain
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p in self.procs:
            self.procs.remove(p)

    def run(self, role: str, argv: list[str], timeout: float, input: str | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
        """Run a bounded command inside a namespace and capture its output."""
        return subprocess.run(["ip", "netns", "exec", self.ns(role), *argv], input=input,
                              capture_output=True, text=True, timeout=timeout, check=check)

    def wait_tcp(self, ip: str, port: int, timeout: float = 15.0) -> bool:
        """True once a TCP connect from the client namespace to ip:port succeeds."""
        code = ("import socket,sys\n"
                f"s=socket.create_connection(('{ip}',{port}),timeout=1)\n"
                "s.close()\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.run("client", [PYTHON, "-c", code], timeout=5)
            if r.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def namespace_pids(self) -> list[int]:
        """Every process now running inside our namespaces."""
        pids: list[int] = []
        for ns in self.created:
            out = _ip("netns", "pids", ns, check=False).stdout.split()
            pids += [int(p) for p in out if p.isdigit()]
        return pids

    def netstat(self, role: str) -> dict[str, int]:
        """TcpExt and Tcp counters of a namespace (/proc/net/netstat and /proc/net/snmp)."""
        r = self.run(role, ["cat", "/proc/net/netstat", "/proc/net/snmp"], timeout=5)
        lines = r.stdout.splitlines()
        out: dict[str, int] = {}
        for head, vals in zip(lines[0::2], lines[1::2]):
            prefix, names = head.split(":", 1)
            _, values = vals.split(":", 1)
            for n, v in zip(names.split(), values.split()):
                if v.lstrip("-").isdigit():
                    out[prefix + n] = int(v)
        return out

