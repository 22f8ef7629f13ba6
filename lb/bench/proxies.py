"""HAProxy and nginx stream configurations generated from the same manifests, so the
user-space peers serve exactly the virtual servers kube-proxy and lb serve.

Per TCP Service port with usable IPv4 endpoints: a frontend bound on every clusterIP,
externalIP and load balancer IP (put on the lb namespace's loopback by the harness) and
on the node's address for a nodePort; its servers are the usable endpoints. Round
robin, or the source-address hash for ClientIP affinity (HAProxy `balance source`,
nginx `hash $remote_addr consistent`; neither expires like timeoutSeconds). UDP ports are
left out: HAProxy has no UDP, and no workload drives UDP yet.

Descriptor budget: the hard limit is 20,000 and a proxied connection costs two, so the
idle workload's 9,000 connections plus pipes must fit under it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lb.addresses import host_port
from lb.snapshot import Snapshot

PROXY_MAXCONN = 9300
HAPROXY_MAXPIPES = 256
NGINX_WORKER_CONNECTIONS = 19000
NGINX_RLIMIT_NOFILE = 19500
NGINX_STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


@dataclass(frozen=True)
class ProxiedPort:
    name: str                                  # ServicePortName
    binds: tuple[tuple[str, int], ...]
    servers: tuple[tuple[str, int], ...]
    affinity: bool

    @property
    def section(self) -> str:
        """A name HAProxy and nginx accept for this port's frontend/upstream."""
        return "".join(c if c.isalnum() else "_" for c in self.name)


def proxied_ports(snapshot: Snapshot, node_ip: str) -> list[ProxiedPort]:
    out = []
    for view in snapshot.service_ports():
        v4 = view.of_family(4)
        if v4.protocol != "TCP" or not v4.usable:
            continue
        binds = [(fe.ip, fe.port) for fe in v4.frontends if fe.ip]
        if v4.node_port:
            binds.append((node_ip, v4.node_port))
        if binds:
            out.append(ProxiedPort(v4.name, tuple(binds), tuple((ep.ip, ep.port) for ep in v4.usable),
                                   bool(v4.service.affinity_timeout)))
    return out


def local_addresses(ports: list[ProxiedPort], node_ip: str) -> set[str]:
    """The virtual server addresses the harness must make local for the proxies to bind."""
    return {ip for p in ports for ip, _ in p.binds} - {node_ip}


def haproxy_config(ports: list[ProxiedPort], workers: int) -> str:
    """mode tcp, nbthread = workers, splice both ways (splice-auto does not splice on veth),
    no logging."""
    out = [f"""global
    nbthread {workers}
    maxconn {PROXY_MAXCONN}
    maxpipes {HAPROXY_MAXPIPES}
defaults
    mode tcp
    maxconn {PROXY_MAXCONN}
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    option splice-request
    option splice-response"""]
    for p in ports:
        binds = "\n".join(f"    bind {host_port(ip, port)}" for ip, port in p.binds)
        servers = "\n".join(f"    server s{i} {host_port(ip, port)}" for i, (ip, port) in enumerate(p.servers))
        out.append(f"""frontend {p.section}
{binds}
    default_backend {p.section}
backend {p.section}
    balance {'source' if p.affinity else 'roundrobin'}
{servers}""")
    return "\n".join(out) + "\n"


def nginx_argv(folder: Path) -> list[str]:
    """nginx in the foreground with folder/nginx.conf, its pid and logs in folder."""
    return ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"]


def nginx_config(ports: list[ProxiedPort], workers: int, workdir: Path) -> str:
    """stream proxy_pass per port, worker_processes = workers; nginx copies through user
    space (no splice)."""
    blocks = []
    for p in ports:
        servers = "\n".join(f"        server {host_port(ip, port)};" for ip, port in p.servers)
        hash_line = "        hash $remote_addr consistent;\n" if p.affinity else ""
        listens = "\n".join(f"        listen {host_port(ip, port)} backlog=65535;" for ip, port in p.binds)
        blocks.append(f"""    upstream {p.section} {{
{hash_line}{servers}
    }}
    server {{
{listens}
        proxy_pass {p.section};
        proxy_timeout 1h;
    }}""")
    body = "\n".join(blocks)
    return f"""load_module {NGINX_STREAM_MODULE};
worker_processes {workers};
worker_rlimit_nofile {NGINX_RLIMIT_NOFILE};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log error;
events {{ worker_connections {NGINX_WORKER_CONNECTIONS}; }}
stream {{
{body}
}}
"""
