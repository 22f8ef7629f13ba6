"""The modes: each a way of serving the manifests' virtual servers in the lb namespace.

  lb        `python -m lb run -f <manifests> -f <scale folder> --workers N`
  iptables  `lb render --mode iptables` loaded with iptables-restore (kube-proxy iptables mode)
  nftables  `lb render --mode nftables` loaded with nft -f (kube-proxy nftables mode)
  ipvs      `lb render --mode ipvs` loaded with ipvsadm-restore, clusterIPs on a kube-ipvs0
            dummy interface (kube-proxy ipvs mode); needs IPVS and dummy links in the kernel
  haproxy   mode tcp, configuration from the manifests (lb.bench.proxies)
  nginx     stream, configuration from the manifests (lb.bench.proxies)
  direct    no virtual server: the client connects to the target's first endpoint itself,
            still routed through the lb namespace (the floor)

A mode is one class here plus its name in MODES. A mode whose tool or kernel feature is
missing says why in `unavailable()` and is reported as skipped.

Scale (lb.bench.scale) asks a mode that `scales` to program a larger set of Services in
two steps: `prepare(step)` does the untimed work (rendering rules), `apply(prepared)` is
what the clock runs over (iptables-restore, nft -f, lb's reload of its folder), until a
real connection reaches the last Service.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lb.bench import incremental, proxies
from lb.bench.manifests import BenchServices, Target
from lb.bench.topology import LB, PYTHON, Topology
from lb.kernel import ipvs_available
from lb.render import render

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0
READY_PER_SERVICE = 0.02       # lb takes ~35 s to start 10,000 Services today
RULES_TIMEOUT = 600.0          # one iptables-restore / nft -f / ipvsadm-restore
METRICS_ADDRESS = "127.0.0.1:10249"      # inside the lb namespace
SCALE_FILE = "scale.yaml"
IPVS_INTERFACE = "kube-ipvs0"


class ModeFailed(RuntimeError):
    """The mode was available but did not start or apply: reported as an error."""


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _missing_tools(*tools: str) -> str | None:
    gone = [t for t in tools if not shutil.which(t)]
    return f"{', '.join(gone)} not installed" if gone else None


class Mode:
    name = ""
    proxy = True           # a user-space load balancer whose CPU time and memory are read
    local_vips = False     # the harness puts the virtual servers on the lb namespace's loopback
    scales = False         # programs the scale workload's generated Services
    tools: tuple[str, ...] = ()     # without them the mode is skipped
    description = ""

    def __init__(self, topo: Topology, services: BenchServices, probe, workers: int, scale_dir: Path):
        self.topo, self.services, self.probe = topo, services, probe
        self.workers, self.scale_dir = workers, scale_dir
        self.proc: subprocess.Popen | None = None
        self.source = ""        # what ran (rules, core build), for the report's notes

    @classmethod
    def unavailable(cls, topo: Topology) -> str | None:
        """Why this mode cannot run on this machine, or None."""
        return _missing_tools(*cls.tools) or cls.missing_feature(topo)

    @classmethod
    def missing_feature(cls, topo: Topology) -> str | None:
        """The kernel feature or plugin the mode needs beyond its tools, if missing."""
        return None

    def address(self, target: Target) -> tuple[str, int]:
        """Where the client connects to reach `target`."""
        return target.ip, target.port

    def start(self) -> None:
        addresses = proxies.local_addresses(self._proxied(), self.topo.addressing.lb_ip)
        self.topo.set_local_addresses(addresses, present=self.local_vips)
        self._start()
        target = self.services.http or self.services.bulk
        if target is None:
            return
        ip, port = self.address(target)
        timeout = READY_TIMEOUT + READY_PER_SERVICE * len(self.services.snapshot.services)
        res = self.probe.until(ip, port, timeout, http=target is self.services.http)
        if not res.get("ok"):
            self.stop()
            raise ModeFailed(f"{self.name}: {ip}:{port} not serving after {timeout:.0f}s "
                             f"({res.get('error')}; logs in {self.topo.workdir})")

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.topo.stop(self.proc)
            self.proc = None

    def pids(self) -> list[int]:
        """The processes whose memory and CPU time the mode costs."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *_children(self.proc.pid)]

    def dir(self) -> Path:
        d = self.topo.workdir / self.name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _proxied(self) -> list:
        return proxies.proxied_ports(self.services.snapshot, self.topo.addressing.lb_ip)

    # -- scale -------------------------------------------------------------------------
    def prepare(self, step, change: bool = False):
        """The untimed part of programming step's Services (change: only the last one's
        endpoint moved since the previous step)."""
        raise NotImplementedError

    def apply(self, prepared, timeout: float = RULES_TIMEOUT) -> None:
        """Program what prepare() made; raises TimeoutError past `timeout` seconds."""
        raise NotImplementedError


class LbMode(Mode):
    name = "lb"
    scales = True
    description = "lb run -f <manifests>"

    def _start(self) -> None:
        sos = sorted((REPO / "lb").glob("_core*.so"))
        self.source = "lb core build " + (hashlib.sha256(sos[0].read_bytes()).hexdigest()[:12] if sos else "none")
        argv = [PYTHON, "-m", "lb", "run", "--workers", str(self.workers), "--metrics-bind-address", METRICS_ADDRESS]
        for path in (*self.services.paths, str(self.scale_dir)):
            argv += ["-f", path]
        self.proc = self.topo.spawn(LB, argv, log_name="lb.log", cwd=str(REPO))

    def prepare(self, step, change: bool = False) -> Path:
        # Written next to the watched folder, then renamed into it: lb sees one whole file.
        staged = self.scale_dir.parent / f".{SCALE_FILE}.staged"
        shutil.copyfile(step.path, staged)
        return staged

    def apply(self, staged: Path, timeout: float = RULES_TIMEOUT) -> None:
        os.replace(staged, self.scale_dir / SCALE_FILE)

    def stop(self) -> None:
        super().stop()
        (self.scale_dir / SCALE_FILE).unlink(missing_ok=True)


@dataclass(frozen=True)
class Rules:
    """What a kernel mode loads: the loader's argv and input, the whole ruleset it leaves
    in force (the base of the next change), and addresses to make local first (ipvs)."""
    argv: tuple[str, ...]
    text: str
    full: str
    addresses: tuple[str, ...] = ()


class RulesMode(Mode):
    """kube-proxy's rules from `lb render`, loaded in the lb namespace. A change (scale's
    endpoint change) is loaded as kube-proxy's partial sync (lb.bench.incremental) where
    the mode has one, else as the whole ruleset."""
    proxy = False
    scales = True
    render_mode = ""
    loader: tuple[str, ...] = ()
    change_loader: tuple[str, ...] = ()

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.loaded = ""      # the ruleset in force

    def _start(self) -> None:
        self.source = f"{self.name}: rules from lb render --mode {self.render_mode}"
        rules = self.rules(self.services.snapshot)
        (self.dir() / "rules.txt").write_text(rules.text)
        self.apply(rules)

    def rules(self, snapshot, rendered: str | None = None) -> Rules:
        text = render(snapshot, self.render_mode) if rendered is None else rendered
        return Rules(self.loader, text, text)

    change = None      # (old ruleset, new ruleset) -> the partial sync's input

    def prepare(self, step, change: bool = False) -> Rules:
        rendered = step.derived(("render", self.render_mode), lambda: render(step.snapshot(), self.render_mode))
        rules = self.rules(step.snapshot(), rendered)
        if change and self.loaded and self.change:
            return Rules(self.change_loader, self.change(self.loaded, rules.full), rules.full, rules.addresses)
        return rules

    def apply(self, rules: Rules, timeout: float = RULES_TIMEOUT) -> None:
        try:
            r = self.topo.run(LB, list(rules.argv), input=rules.text, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{' '.join(rules.argv)} still running after {timeout:.0f}s") from None
        if r.returncode != 0:
            raise ModeFailed(f"{self.name}: {' '.join(rules.argv)} failed: {r.stderr.strip()[:400]}")
        self.loaded = rules.full


class IptablesMode(RulesMode):
    name = "iptables"
    render_mode = "iptables"
    loader = tools = ("iptables-restore",)
    change_loader = ("iptables-restore", "--noflush")
    description = "kube-proxy iptables mode (lb render), iptables-restore"
    EMPTY = "*filter\nCOMMIT\n*nat\nCOMMIT\n"     # restoring empty tables flushes and deletes chains

    change = staticmethod(incremental.iptables_change)

    def stop(self) -> None:
        self.topo.run(LB, ["iptables-restore"], input=self.EMPTY, timeout=RULES_TIMEOUT)


class NftablesMode(RulesMode):
    name = "nftables"
    render_mode = "nftables"
    tools = ("nft",)
    loader = ("nft", "-f", "-")
    change_loader = loader
    description = "kube-proxy nftables mode (lb render), nft -f"

    change = staticmethod(incremental.nftables_change)

    def stop(self) -> None:
        for family in ("ip", "ip6"):
            self.topo.run(LB, ["nft", "delete", "table", family, "kube-proxy"], timeout=RULES_TIMEOUT)


class IpvsMode(RulesMode):
    """kube-proxy binds every clusterIP to the kube-ipvs0 dummy interface so the node
    accepts the traffic that IPVS then forwards (masquerading real servers: replies come
    back through the lb namespace, the endpoint hosts' gateway). Every load here clears
    the table and restores it whole (kube-proxy's ipvs mode changes it entry by entry)."""
    name = "ipvs"
    render_mode = "ipvs"
    loader = ("ipvsadm-restore",)
    tools = ("ipvsadm", "ipvsadm-restore")
    description = "kube-proxy ipvs mode (lb render), ipvsadm-restore, kube-ipvs0"

    @classmethod
    def missing_feature(cls, topo: Topology) -> str | None:
        if not ipvs_available():
            return "no IPVS in this kernel (/proc/net/ip_vs missing)"
        probe = "lbbenchprobe0"
        r = topo.run(LB, ["ip", "link", "add", probe, "type", "dummy"], timeout=10)
        if r.returncode != 0:
            return f"no dummy interfaces in this kernel ({r.stderr.strip()[:100]})"
        topo.run(LB, ["ip", "link", "del", probe], timeout=10)
        return None

    def _start(self) -> None:
        self.topo.lb_ip_batch([f"link add {IPVS_INTERFACE} type dummy", f"link set {IPVS_INTERFACE} up"])
        self.topo.sysctl(LB, {"net.ipv4.vs.conntrack": "1"}, check=False)
        super()._start()

    def rules(self, snapshot, rendered: str | None = None) -> Rules:
        rules = super().rules(snapshot, rendered)
        ips = sorted({fe.ip for v in snapshot.service_ports() for fe in v.of_family(4).frontends if fe.ip})
        return Rules(rules.argv, rules.text, rules.full, tuple(ips))

    def apply(self, rules: Rules, timeout: float = RULES_TIMEOUT) -> None:
        have = self.topo.run(LB, ["ip", "-o", "addr", "show", "dev", IPVS_INTERFACE], timeout=30).stdout
        adds = [f"addr add {ip}/32 dev {IPVS_INTERFACE}" for ip in rules.addresses if f" {ip}/32 " not in have]
        if adds:
            self.topo.lb_ip_batch(adds)
        self.topo.run(LB, ["ipvsadm", "-C"], timeout=RULES_TIMEOUT)     # restore adds; it does not replace
        super().apply(rules, timeout)

    def stop(self) -> None:
        self.topo.run(LB, ["ipvsadm", "-C"], timeout=RULES_TIMEOUT)
        self.topo.run(LB, ["ip", "link", "del", IPVS_INTERFACE], timeout=30)


class HaproxyMode(Mode):
    name = "haproxy"
    local_vips = True
    tools = ("haproxy",)
    description = "HAProxy mode tcp, roundrobin, splice"

    def _start(self) -> None:
        cfg = self.dir() / "haproxy.cfg"
        cfg.write_text(proxies.haproxy_config(self._proxied(), self.workers))
        self.proc = self.topo.spawn(LB, ["haproxy", "-db", "-f", str(cfg)], log_name="haproxy.log")


class NginxMode(Mode):
    name = "nginx"
    local_vips = True
    tools = ("nginx",)
    description = "nginx stream proxy_pass, user-space copies"

    @classmethod
    def missing_feature(cls, topo: Topology) -> str | None:
        if not proxies.NGINX_STREAM_MODULE.exists():
            return f"nginx stream module missing ({proxies.NGINX_STREAM_MODULE}; Debian: libnginx-mod-stream)"
        return None

    def _start(self) -> None:
        d = self.dir()
        (d / "nginx.conf").write_text(proxies.nginx_config(self._proxied(), self.workers, d))
        self.proc = self.topo.spawn(LB, proxies.nginx_argv(d), log_name="nginx-stream.log")


class DirectMode(Mode):
    name = "direct"
    proxy = False
    description = "client -> the target's first endpoint, no balancing"

    def address(self, target: Target) -> tuple[str, int]:
        return target.first_endpoint

    def _start(self) -> None:
        pass


MODES = {cls.name: cls for cls in (LbMode, IptablesMode, NftablesMode, IpvsMode, HaproxyMode, NginxMode, DirectMode)}
