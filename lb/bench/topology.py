"""The test bed: network namespaces for the client, the load-balancer node and one small
host per endpoint address, the links between them, and every process started inside.

    client CLIENT ──veth── lb-node LB | ROUTER ──veth ve1── ep1  <endpoint address 1>
                                             ├─veth ve2── ep2  <endpoint address 2>
                                             └─ ...

Endpoint hosts carry the manifests' real addresses (10.244.x.x pods, 10.1.0.x, ...) on
their own interface; the link addresses (client, lb node, router) are chosen to avoid
every address the manifests use. The lb namespace is the router: the client's and every
host's default route point at it, so kernel DNAT needs no SNAT (replies come back
through the lb namespace and conntrack reverses the translation) and proxies see the
client's real address. Each host hangs off its own routed veth, not a bridge: with
br_netfilter loaded, frames entering a bridge would pass netfilter hooks, a cost that
has nothing to do with any mode.

Addresses exist only inside these namespaces. Namespaces are named
lbbench-<pid of the harness>-<topology number>-<role>; `cleanup_leftovers` removes the
ones whose harness is gone, with the processes inside them. Every process is started through `spawn` in
its own process group and is killed by that group on `down`.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PREFIX = "lbbench"
NAMESPACE_PATTERN = re.compile(rf"^{PREFIX}-(\d+)-\d+-[a-z0-9]+$")
WORKDIR_PATTERN = re.compile(rf"^{PREFIX}-(\d+)-")
CLIENT, LB = "client", "lb"
_TOPOLOGY_NUMBERS = itertools.count(1)


@dataclass(frozen=True)
class Addressing:
    """The link addresses: the client, the lb node's client side, and the lb node's side
    of every endpoint host's link (the hosts' default gateway)."""
    client_ip: str
    lb_ip: str
    router_ip: str


LINK_CHOICES = (
    Addressing("10.0.0.2", "10.0.0.1", "10.1.0.1"),
    Addressing("172.31.255.2", "172.31.255.1", "172.31.254.1"),
    Addressing("192.168.255.2", "192.168.255.1", "192.168.254.1"),
)

# One client address opening 20k connections/s reuses its ports while the far end still
# holds them in TIME_WAIT; the far end then drops the SYN (TcpExtPAWSTimewait) and the
# client retransmits it a second later. No TIME_WAIT buckets on the accepting sides.
COMMON_SYSCTLS = {
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.core.somaxconn": "65535",
    "net.ipv4.tcp_max_syn_backlog": "65535",
}
CLIENT_SYSCTLS = {"net.ipv4.tcp_tw_reuse": "1"}
LB_SYSCTLS = {"net.ipv4.tcp_max_tw_buckets": "0", "net.ipv4.ip_forward": "1"}
HOST_SYSCTLS = {"net.ipv4.tcp_max_tw_buckets": "0"}

STOP_GRACE = 5.0
KILL_GRACE = 30.0     # SIGKILL is final, but tearing down a big process can take seconds on a busy machine
COMMAND_TIMEOUT = 30.0
PYTHON = sys.executable


def choose_addressing(used: set[str]) -> Addressing:
    """The first link addressing that none of the manifests' addresses collide with."""
    for choice in LINK_CHOICES:
        if not {choice.client_ip, choice.lb_ip, choice.router_ip} & used:
            return choice
    raise ValueError("the manifests use every link address the bench could take: "
                     + ", ".join(f"{c.client_ip}/{c.lb_ip}/{c.router_ip}" for c in LINK_CHOICES))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def _ip_batch(ns: str, commands: list[str]) -> None:
    """Several `ip` commands in one namespace, one process (ip -batch)."""
    r = subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(commands) + "\n",
                       capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"ip -n {ns} -batch failed: {r.stderr.strip()[:400]}")


def list_namespaces() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pid_alive(pid: int) -> bool:
    """True while pid runs (a zombie, killed but not reaped, is gone for our purpose)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def namespace_pids(ns: str) -> list[int]:
    return [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split() if p.isdigit()]


def _kill_namespace_processes(ns: str) -> None:
    """Kill what is left inside one of our namespaces (processes we started there)."""
    for pid in namespace_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _delete_namespace(ns: str) -> None:
    _kill_namespace_processes(ns)
    _ip("netns", "del", ns, check=False)


def cleanup_leftovers(log=print) -> int:
    """Delete lbbench-<pid>-* namespaces (with the processes and rules inside) and
    lbbench-<pid>-* work folders whose harness process is gone. What belongs to a harness
    that still runs is left alone. Returns how many namespaces were removed."""
    removed = 0
    for ns in list_namespaces():
        m = NAMESPACE_PATTERN.match(ns)
        if not m or pid_alive(int(m.group(1))):
            continue
        _delete_namespace(ns)
        log(f"removed namespace={ns}")
        removed += 1
    tmp = Path(tempfile.gettempdir())
    for d in tmp.glob(f"{PREFIX}-*"):
        m = WORKDIR_PATTERN.match(d.name)
        if m and d.is_dir() and not pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)
    return removed


def make_workdir() -> Path:
    """A work folder named after this harness, so a later run can tell it is a leftover."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-"))


class Topology:
    """Owns the namespaces, their links and the processes started in them."""

    def __init__(self, workdir: Path, endpoint_ips=(), used_addresses=()):
        self.tag = f"{os.getpid()}-{next(_TOPOLOGY_NUMBERS)}"    # several may coexist in one process
        self.workdir = Path(workdir)
        self.addressing = choose_addressing(set(used_addresses) | set(endpoint_ips))
        self.hosts = {ip: f"ep{i + 1}" for i, ip in enumerate(endpoint_ips)}   # endpoint address -> role
        self.procs: list[subprocess.Popen] = []
        self.created: list[str] = []

    @property
    def roles(self) -> tuple[str, ...]:
        return (CLIENT, LB, *self.hosts.values())

    def ns(self, role: str) -> str:
        return f"{PREFIX}-{self.tag}-{role}"

    def host_of(self, ip: str) -> str:
        """The role of the host that carries an endpoint address."""
        return self.hosts[ip]

    # -- namespaces and links ---------------------------------------------------------
    def up(self) -> None:
        a = self.addressing
        for role in self.roles:
            _ip("netns", "add", self.ns(role))
            self.created.append(self.ns(role))
        lb, client = self.ns(LB), self.ns(CLIENT)
        lb_cmds = ["link set lo up",
                   f"link add l0 type veth peer name c0 netns {client}",
                   f"addr add {a.lb_ip}/32 dev l0", "link set l0 up",
                   f"route add {a.client_ip}/32 dev l0 src {a.lb_ip}"]
        for i, (ip, role) in enumerate(self.hosts.items()):
            dev = f"ve{i + 1}"
            lb_cmds += [f"link add {dev} type veth peer name eth0 netns {self.ns(role)}",
                        f"addr add {a.router_ip}/32 dev {dev}", f"link set {dev} up",
                        f"route add {ip}/32 dev {dev} src {a.router_ip}"]
        _ip_batch(lb, lb_cmds)
        _ip_batch(client, ["link set lo up", f"addr add {a.client_ip}/32 dev c0", "link set c0 up",
                           f"route add {a.lb_ip}/32 dev c0", f"route add default via {a.lb_ip}"])
        for ip, role in self.hosts.items():
            _ip_batch(self.ns(role), ["link set lo up", f"addr add {ip}/32 dev eth0", "link set eth0 up",
                                      f"route add {a.router_ip}/32 dev eth0",
                                      f"route add default via {a.router_ip}"])
        self.sysctl(CLIENT, {**COMMON_SYSCTLS, **CLIENT_SYSCTLS})
        self.sysctl(LB, {**COMMON_SYSCTLS, **LB_SYSCTLS})
        for role in self.hosts.values():
            self.sysctl(role, {**COMMON_SYSCTLS, **HOST_SYSCTLS})

    def down(self) -> None:
        """Kill every process started here, then delete the namespaces (and the rules and
        links in them). Idempotent."""
        for p in reversed(self.procs):
            self.stop(p)
        self.procs.clear()
        present = set(list_namespaces())
        for ns in self.created:
            if ns in present:
                _delete_namespace(ns)
        self.created.clear()

    def sysctl(self, role: str, values: dict[str, str], check: bool = True) -> None:
        args = [f"{k}={v}" for k, v in values.items()]
        subprocess.run(["ip", "netns", "exec", self.ns(role), "sysctl", "-q", "-w", *args],
                       check=check, capture_output=True, timeout=COMMAND_TIMEOUT)

    def set_local_addresses(self, ips, present: bool) -> None:
        """Put addresses on the lb namespace's loopback (proxies bind virtual servers
        there), or take them off. Reads what is there first: `lb run` adds and removes its
        own on lo when the kernel has no dummy interfaces."""
        have = _ip("-n", self.ns(LB), "-o", "addr", "show", "dev", "lo", check=False).stdout
        cmds = []
        for ip in sorted(set(ips)):
            there = f" {ip}/32 " in have
            if present and not there:
                cmds.append(f"addr add {ip}/32 dev lo")
            elif not present and there:
                cmds.append(f"addr del {ip}/32 dev lo")
        if cmds:
            _ip_batch(self.ns(LB), cmds)

    def lb_ip_batch(self, commands: list[str]) -> None:
        _ip_batch(self.ns(LB), commands)

    # -- processes --------------------------------------------------------------------
    def spawn(self, role: str, argv: list[str], log_name: str | None = None, **kw) -> subprocess.Popen:
        """Start argv inside a namespace in a new process group; stdout+stderr go to a log
        file unless the caller passes its own."""
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
                p.wait(KILL_GRACE)
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

    def namespace_pids(self) -> list[int]:
        """Every process now running inside our namespaces."""
        return [pid for ns in self.created for pid in namespace_pids(ns)]

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
