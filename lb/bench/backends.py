"""The servers on the endpoint hosts, per what the workloads need (lb.bench.manifests):

- http: one nginx per host (one worker, keep-alive, no access log) listening on each of
  that host's HTTP endpoint ports. The 100-byte body starts with the endpoint's own
  ip:port, so a client can tell which endpoint answered (scale's endpoint change).
- iperf3: `iperf3 -s -B ip -p port` on each bulk endpoint.

Backends are checked from the lb namespace, whatever mode runs later.
"""
from __future__ import annotations

import json
import subprocess

from lb.addresses import host_port
from lb.bench.manifests import HTTP, IPERF3
from lb.bench.proxies import nginx_argv
from lb.bench.topology import LB, PYTHON, Topology

BODY_BYTES = 100
WORKER_CONNECTIONS = 10000
READY_TIMEOUT = 20.0


def identity(ip: str, port: int) -> str:
    """What the endpoint's body starts with."""
    return f"endpoint={host_port(ip, port)};"


def _body(ip: str, port: int) -> str:
    head = identity(ip, port)
    return head + "x" * max(BODY_BYTES - 1 - len(head), 0)


class Backends:
    def __init__(self, topo: Topology, servers: dict):
        self.topo = topo
        self.servers = servers           # (ip, port) -> HTTP or IPERF3
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        by_host: dict[str, list[int]] = {}
        for (ip, port), kind in sorted(self.servers.items()):
            if kind == HTTP:
                by_host.setdefault(ip, []).append(port)
            elif kind == IPERF3:
                self.procs.append(self.topo.spawn(self.topo.host_of(ip), ["iperf3", "-s", "-B", ip, "-p", str(port)],
                                                  log_name=f"iperf3-{ip}-{port}.log"))
        for ip, ports in by_host.items():
            self._start_nginx(ip, ports)
        down = self._not_up_from_lb(list(self.servers))
        if down:
            raise RuntimeError(f"backends {', '.join(host_port(*a) for a in down)} did not come up "
                               f"within {READY_TIMEOUT:.0f}s; see {self.topo.workdir}")

    def _start_nginx(self, ip: str, ports: list[int]) -> None:
        d = self.topo.workdir / f"backend-{ip}"
        d.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"""    server {{
        listen {ip}:{port} backlog=65535;
        location / {{ return 200 "{_body(ip, port)}\\n"; }}
    }}""" for port in ports)
        (d / "nginx.conf").write_text(f"""
worker_processes 1;
worker_rlimit_nofile {WORKER_CONNECTIONS + 2000};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {WORKER_CONNECTIONS}; }}
http {{
    access_log off;
    keepalive_timeout 3600s;
    keepalive_requests 10000000;
    client_header_timeout 600s;
    client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
    default_type text/plain;
{servers}
}}
""")
        self.procs.append(self.topo.spawn(self.topo.host_of(ip), nginx_argv(d), log_name=f"backend-{ip}.log"))

    def _not_up_from_lb(self, addrs: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Poll every address from the lb namespace (one process) until all accept or
        READY_TIMEOUT passes; the ones that never did."""
        code = ("import json, socket, sys, time\n"
                "left = [tuple(a) for a in json.loads(sys.argv[1])]\n"
                "deadline = time.monotonic() + float(sys.argv[2])\n"
                "while left and time.monotonic() < deadline:\n"
                "    for a in list(left):\n"
                "        try:\n"
                "            socket.create_connection(a, timeout=1).close(); left.remove(a)\n"
                "        except OSError:\n"
                "            pass\n"
                "    time.sleep(0.1 if left else 0)\n"
                "print(json.dumps(left))\n")
        r = self.topo.run(LB, [PYTHON, "-c", code, json.dumps(addrs), str(READY_TIMEOUT)], timeout=READY_TIMEOUT + 15)
        return [tuple(a) for a in json.loads(r.stdout or json.dumps(addrs))]

    def stop(self) -> None:
        for p in self.procs:
            self.topo.stop(p)
        self.procs.clear()
