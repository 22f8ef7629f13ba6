"""RunSettings: every knob of a running lb, frozen, built once by lb.cli from flags
(lb demo and the tests build one directly). Nothing below the CLI sees argparse.

Defaults live here and nowhere else; the flag names are kube-proxy's where one exists.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CLUSTER_IP_RANGE = "10.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
DEFAULT_METRICS_BIND_ADDRESS = "127.0.0.1:10249"
DEFAULT_METRICS_PORT = 10249
DEFAULT_TCP_IDLE_TIMEOUT = 3600.0
DEFAULT_DRAIN_TIMEOUT = 10.0
DEFAULT_DUMMY_INTERFACE = "lb0"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class ManifestSettings:
    """What reading manifests needs: the files and the ranges allocation draws from."""
    files: tuple[str, ...] = ()
    service_cluster_ip_range: str = DEFAULT_CLUSTER_IP_RANGE
    service_node_port_range: str = DEFAULT_NODE_PORT_RANGE


@dataclass(frozen=True)
class RunSettings(ManifestSettings):
    """`lb run`'s flags. workers None: one per CPU."""
    workers: int | None = None
    nodeport_addresses: tuple[str, ...] = ()     # IPs or CIDRs; empty: every address
    metrics_bind_address: str = DEFAULT_METRICS_BIND_ADDRESS
    tcp_idle_timeout: float = DEFAULT_TCP_IDLE_TIMEOUT
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    dummy_interface: str = DEFAULT_DUMMY_INTERFACE
    # lb.dns: the embedded cluster DNS, off while dns_bind_addresses is empty
    dns_bind_addresses: tuple[str, ...] = ()     # HOST:PORT, each served on UDP and TCP
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    dns_upstreams: tuple[str, ...] | None = None  # None: refuse other names; (): /etc/resolv.conf's
    dns_search_namespace: str | None = None      # answers <svc> and <svc>.<ns> for this namespace
