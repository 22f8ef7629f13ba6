"""What the client talks to: the backend servers, and the peers that put the virtual
servers of bench/manifests in front of them.

Every peer serves WEB_VIP:80 -> the three nginx backends (round robin) and
BULK_VIP:5201 -> the iperf3 server on b1, inside the lb namespace:

  lb       `python -m lb run -f bench/manifests --workers N`
  haproxy  mode tcp, balance roundrobin, nbthread N, option splice-request/-response
  nginx    stream module, proxy_pass to an upstream, worker_processes N (read/write, no splice)
  dnat     kube-proxy's iptables rules from `lb render --mode iptables` (built-in rules of
           the same shape while lb render is unavailable), loaded in the lb namespace
  direct   no virtual server: the client connects to b1 itself, through the lb
           namespace's forwarding (the baseline: one nginx worker, one routing hop)
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from lb.bench.topology import (BACKEND_IPS, BACKEND_ROLES, BULK_PORT, BULK_VIP, PYTHON, WEB_PORT, WEB_VIP,
                               Topology)

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "bench" / "manifests"
BODY_BYTES = 100
READY_TIMEOUT = 20.0

# Descriptors: the hard limit is 20,000 and a proxied connection costs two, so 9,000 idle
# connections plus pipes must fit under it.
PROXY_MAXCONN = 9300
HAPROXY_MAXPIPES = 256
NGINX_PROXY_WORKER_CONNECTIONS = 19000
NGINX_PROXY_RLIMIT_NOFILE = 19500
BACKEND_WORKER_CONNECTIONS = 10000


class PeerUnavailable(RuntimeError):
    pass


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


class Backends:
    """nginx (100-byte body, keep-alive, no access log, one worker) on b1..b3; iperf3 -s on b1."""

    def __init__(self, topo: Topology):
        self.topo = topo
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        body = "x" * (BODY_BYTES - 1)
        for role, ip in zip(BACKEND_ROLES, BACKEND_IPS):
            d = self.topo.workdir / f"backend-{role}"
            d.mkdir(parents=True, exist_ok=True)
            (d / "nginx.conf").write_text(f"""
worker_processes 1;
worker_rlimit_nofile {BACKEND_WORKER_CONNECTIONS + 2000};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {BACKEND_WORKER_CONNECTIONS}; }}
http {{
    access_log off;
    keepalive_timeout 3600s;
    keepalive_requests 10000000;
    client_header_timeout 600s;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    default_type text/plain;
    server {{
        listen {ip}:{WEB_PORT} backlog=65535;
        location / {{ return 200 "{body}\\n"; }}
    }}
}}
""")
            self.procs.append(self.topo.spawn(role, ["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-e",
                                                     "stderr", "-g", "daemon off;"], log_name=f"backend-{role}.log"))
        self.procs.append(self.topo.spawn("b1", ["iperf3", "-s", "-p", str(BULK_PORT)], log_name="iperf3-server.log"))
        # Backends are reached from the lb namespace, whatever peer runs.
        for ip in BACKEND_IPS:
            if not self._wait_from_lb(ip, WEB_PORT):
                raise RuntimeError(f"backend {ip}:{WEB_PORT} did not come up; see {self.topo.workdir}")

    def _wait_from_lb(self, ip: str, port: int) -> bool:
        code = f"import socket; socket.create_connection(('{ip}',{port}),timeout=1).close()"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.topo.run("lb", [PYTHON, "-c", code], timeout=5).returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        for p in self.procs:
            self.topo.stop(p)
        self.procs.clear()


class Peer:
    """One way of serving the virtual servers. start() returns when WEB_VIP:80 accepts."""
    name = ""
    uses_vips = True          # the harness puts the VIPs on the lb namespace's loopback
    proxy = True              # a userspace process whose RSS and CPU time we can read
    note = ""

    def __init__(self, topo: Topology, workers: int):
        self.topo = topo
        self.workers = workers
        self.proc: subprocess.Popen | None = None

    def web(self) -> tuple[str, int]:
        return WEB_VIP, WEB_PORT

    def bulk(self) -> tuple[str, int]:
        return BULK_VIP, BULK_PORT

    def start(self) -> None:
        self.topo.set_vips(self.uses_vips)
        self._start()
        ip, port = self.web()
        if not self.topo.wait_tcp(ip, port, READY_TIMEOUT):
            self.stop()
            raise PeerUnavailable(f"{self.name}: {ip}:{port} not accepting after {READY_TIMEOUT:.0f}s "
                                  f"(log in {self.topo.workdir})")

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.topo.stop(self.proc)
            self.proc = None

    def pids(self) -> list[int]:
        """The processes whose memory and CPU time the peer costs."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *_children(self.proc.pid)]

    def dir(self) -> Path:
        d = self.topo.workdir / self.name
        d.mkdir(parents=True, exist_ok=True)
        return d


class LbPeer(Peer):
    name = "lb"
    uses_vips = False      # lb run puts clusterIPs on its own dummy interface
    note = "python -m lb run -f bench/manifests"

    def build(self) -> str:
        """Short hash of the core extension this instance loads (the core may be rebuilt
        between rounds while others work on it)."""
        import hashlib
        sos = sorted((REPO / "lb").glob("_core*.so"))
        return hashlib.sha256(sos[0].read_bytes()).hexdigest()[:12] if sos else "none"

    def _start(self) -> None:
        self.source = f"lb core build {self.build()}"
        argv = [PYTHON, "-m", "lb", "run", "-f", str(MANIFESTS), "--workers", str(self.workers),
                "--metrics-bind-address", "127.0.0.1:10249"]
        self.proc = self.topo.spawn("lb", argv, log_name="lb.log", cwd=str(REPO))
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise PeerUnavailable(f"lb run exited with {self.proc.returncode}: "
                                  + (self.topo.workdir / "lb.log").read_text()[-400:].strip())


class HaproxyPeer(Peer):
    name = "haproxy"
    note = "mode tcp, roundrobin, splice-request/response"

    def _start(self) -> None:
        d = self.dir()
        servers = "\n".join(f"    server b{i + 1} {ip}:{WEB_PORT}" for i, ip in enumerate(BACKEND_IPS))
        (d / "haproxy.cfg").write_text(f"""
global
    nbthread {self.workers}
    maxconn {PROXY_MAXCONN}
    maxpipes {HAPROXY_MAXPIPES}
defaults
    mode tcp
    maxconn {PROXY_MAXCONN}
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    option splice-request
    option splice-response
frontend web
    bind {WEB_VIP}:{WEB_PORT}
    default_backend web
backend web
    balance roundrobin
{servers}
frontend bulk
    bind {BULK_VIP}:{BULK_PORT}
    default_backend bulk
backend bulk
    server b1 {BACKEND_IPS[0]}:{BULK_PORT}
""")
        self.proc = self.topo.spawn("lb", ["haproxy", "-db", "-f", str(d / "haproxy.cfg")], log_name="haproxy.log")


class NginxPeer(Peer):
    name = "nginx"
    note = "stream proxy_pass, read/write copies"

    def _start(self) -> None:
        d = self.dir()
        servers = "\n".join(f"        server {ip}:{WEB_PORT};" for ip in BACKEND_IPS)
        (d / "nginx.conf").write_text(f"""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes {self.workers};
worker_rlimit_nofile {NGINX_PROXY_RLIMIT_NOFILE};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {NGINX_PROXY_WORKER_CONNECTIONS}; }}
stream {{
    upstream web {{
{servers}
    }}
    upstream bulk {{ server {BACKEND_IPS[0]}:{BULK_PORT}; }}
    server {{ listen {WEB_VIP}:{WEB_PORT} backlog=65535; proxy_pass web; proxy_timeout 1h; }}
    server {{ listen {BULK_VIP}:{BULK_PORT}; proxy_pass bulk; proxy_timeout 1h; }}
}}
""")
        self.proc = self.topo.spawn("lb", ["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-e", "stderr",
                                           "-g", "daemon off;"], log_name="nginx-stream.log")


def builtin_dnat_rules() -> str:
    """kube-proxy's iptables-mode nat rules for bench/manifests, written by hand (used only
    while `lb render --mode iptables` is unavailable)."""
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
             ":KUBE-SERVICES - [0:0]", ":KUBE-SVC-WEB - [0:0]", ":KUBE-SVC-BULK - [0:0]",
             ":KUBE-SEP-BULK - [0:0]"]
    lines += [f":KUBE-SEP-WEB{i} - [0:0]" for i in range(1, 4)]
    lines += ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
              "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
              f"-A KUBE-SERVICES -d {WEB_VIP}/32 -p tcp -m tcp --dport {WEB_PORT} -j KUBE-SVC-WEB",
              f"-A KUBE-SERVICES -d {BULK_VIP}/32 -p tcp -m tcp --dport {BULK_PORT} -j KUBE-SVC-BULK",
              "-A KUBE-SVC-WEB -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-WEB1",
              "-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-WEB2",
              "-A KUBE-SVC-WEB -j KUBE-SEP-WEB3",
              "-A KUBE-SVC-BULK -j KUBE-SEP-BULK",
              f"-A KUBE-SEP-BULK -p tcp -m tcp -j DNAT --to-destination {BACKEND_IPS[0]}:{BULK_PORT}"]
    lines += [f"-A KUBE-SEP-WEB{i + 1} -p tcp -m tcp -j DNAT --to-destination {ip}:{WEB_PORT}"
              for i, ip in enumerate(BACKEND_IPS)]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def rendered_dnat_rules() -> str | None:
    """`lb render --mode iptables -f bench/manifests`, or None while it is unavailable."""
    try:
        r = subprocess.run([PYTHON, "-m", "lb", "render", "--mode", "iptables", "-f", str(MANIFESTS)],
                           capture_output=True, text=True, timeout=60, cwd=str(REPO))
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0 or "*nat" not in r.stdout or WEB_VIP not in r.stdout:
        return None
    return r.stdout


class DnatPeer(Peer):
    name = "dnat"
    uses_vips = False      # kube-proxy never puts clusterIPs on an interface in iptables mode
    proxy = False
    note = "kernel DNAT (kube-proxy iptables mode)"

    def _start(self) -> None:
        rules = rendered_dnat_rules()
        self.source = ("rules from lb render --mode iptables" if rules
                       else "built-in rules (lb render unavailable)")
        rules = rules or builtin_dnat_rules()
        (self.dir() / "rules.txt").write_text(rules)
        r = self.topo.run("lb", ["iptables-restore"], input=rules, timeout=60)
        if r.returncode != 0:
            raise PeerUnavailable(f"dnat: iptables-restore failed ({self.source}): {r.stderr.strip()[:400]}")

    def stop(self) -> None:
        self.topo.run("lb", ["nft", "flush", "ruleset"], timeout=30)

    def pids(self) -> list[int]:
        return []


class DirectPeer(Peer):
    name = "direct"
    uses_vips = False
    proxy = False
    note = "client -> b1, no balancing"

    def web(self) -> tuple[str, int]:
        return BACKEND_IPS[0], WEB_PORT

    def bulk(self) -> tuple[str, int]:
        return BACKEND_IPS[0], BULK_PORT

    def _start(self) -> None:
        pass

    def pids(self) -> list[int]:
        return []


PEERS = {cls.name: cls for cls in (LbPeer, HaproxyPeer, NginxPeer, DnatPeer, DirectPeer)}
