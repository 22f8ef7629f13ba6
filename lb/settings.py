"""RunSettings: every knob of a running lb, frozen, built once by lb.cli from flags
(lb demo and the tests build one directly). Nothing below the CLI sees argparse.

Defaults live here and nowhere else; the flag names are kube-proxy's where one exists.

Each field names its flag and what it accepts (`setting(default, flag, check)`); a
settings object checks every field when it is made and raises SettingError, a
ValueError that names the flag, so a bad value stops lb before anything starts. A new
knob is one more `setting(...)` line here and one flag in lb/cli.py.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field, fields
from typing import Callable

from lb.addresses import is_ip, parse_host_port
from lb.config.allocate import parse_cluster_ip_range, parse_node_port_range

# kind's dual-stack default: a manifest asking for IPv6 or dual-stack serves out of the box;
# Services without ipFamilyPolicy still get one IPv4 address (the first family)
DEFAULT_CLUSTER_IP_RANGE = "10.96.0.0/12,fd00:10:96::/112"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
DEFAULT_METRICS_BIND_ADDRESS = "127.0.0.1:10249"
DEFAULT_METRICS_PORT = 10249
DEFAULT_TCP_IDLE_TIMEOUT = 3600.0
DEFAULT_DRAIN_TIMEOUT = 10.0
DEFAULT_DUMMY_INTERFACE = "lb0"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_SCHEDULER = "rr"
DEFAULT_HOSTS_FILE = "/etc/hosts"
MAX_WORKERS = 64          # the core's LB_MAX_WORKERS (ext/): lb._core.Core refuses more
IFNAMSIZ = 16             # Linux interface names: at most 15 bytes


class SettingError(ValueError):
    """A flag's value lb does not accept: `argument --workers: invalid value 0: must be ...`."""

    def __init__(self, flag: str, value, accepted: str):
        shown = f"'{value}'" if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else value
        super().__init__(f"argument {flag}: invalid value {shown}: {accepted}")
        self.flag = flag


# --- what a value may be: each check raises ValueError saying what is accepted --------

def worker_count(value: int | None) -> None:
    if value is not None and not 1 <= value <= MAX_WORKERS:
        raise ValueError(f"must be from 1 to {MAX_WORKERS} (the core's limit); leave it out for one per CPU")


def positive_seconds(value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError("must be a number of seconds above 0")


def non_negative_seconds(value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError("must be a number of seconds, 0 or more")


def cluster_ip_range(value: str) -> None:
    try:
        parse_cluster_ip_range(value)
    except ValueError as exc:
        raise ValueError(_accepted_because(f'must be a CIDR or "v4CIDR,v6CIDR" (e.g. {DEFAULT_CLUSTER_IP_RANGE})',
                                           exc)) from None


def node_port_range(value: str) -> None:
    try:
        parse_node_port_range(value)
    except ValueError:
        raise ValueError(f"must be LOW-HIGH with 1 <= LOW <= HIGH <= 65535 (e.g. {DEFAULT_NODE_PORT_RANGE})") from None


def _accepted_because(accepted: str, exc: ValueError) -> str:
    """What is accepted, then the parser's reason ('... "10.96.0.1/12": has host bits set')."""
    reason = str(exc).rpartition('": ')[2]
    return accepted if reason.startswith("expected") else f"{accepted}: {reason}"


def ips_or_cidrs(value: str) -> None:
    """One --nodeport-addresses value: IPs or CIDRs, comma-separated."""
    for item in value.split(","):
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise ValueError(f"'{item.strip()}' is not an IP address or CIDR (e.g. 192.0.2.10 or "
                             "192.0.2.0/24)") from None


def ip_address(value: str) -> None:
    if not is_ip(value):
        raise ValueError("must be an IP address (e.g. 192.0.2.10 or 2001:db8::10)")


def bind_address(value: str) -> None:
    """HOST:PORT as --metrics-bind-address takes it: IP:PORT, [IPv6]:PORT, :PORT or an IP alone."""
    accepted = "must be IP:PORT, [IPv6]:PORT or :PORT with a port from 0 to 65535 (e.g. 127.0.0.1:10249)"
    try:
        host, _ = parse_host_port(value, DEFAULT_METRICS_PORT)
    except ValueError:
        raise ValueError(accepted) from None
    if not is_ip(host):
        raise ValueError(accepted)


def scheduler_name(value: str) -> None:
    from lb.config.annotations.scheduling import SCHEDULERS
    if value not in SCHEDULERS:
        raise ValueError("must be one of " + ", ".join(SCHEDULERS))


def interface_name(value: str) -> None:
    """The kernel's dev_valid_name: 1-15 bytes, not . or .., no /, : or whitespace."""
    if (not value or len(value.encode()) >= IFNAMSIZ or value in (".", "..")
            or any(c in "/:" or c.isspace() for c in value)):
        raise ValueError(f"must be a Linux interface name: 1 to {IFNAMSIZ - 1} characters, "
                         "no '/', ':' or spaces")


Check = Callable[[object], None]


def setting(default, flag: str, check: Check | None = None, each: bool = False):
    """A settings field for a flag; `each`: the field is a tuple whose items are checked one by one."""
    return field(default=default, metadata={"flag": flag, "check": check, "each": each})


def check_fields(settings) -> None:
    """Raise SettingError for the first field whose value its check refuses."""
    for f in fields(settings):
        check = f.metadata.get("check")
        if check is None:
            continue
        value = getattr(settings, f.name)
        for item in (value if f.metadata["each"] else (value,)):
            try:
                check(item)
            except ValueError as exc:
                raise SettingError(f.metadata["flag"], item, str(exc)) from None


def flag_check(name: str) -> tuple[str, Check]:
    """The flag and check of the RunSettings field `name`, for a command-line flag that
    takes the same values without making settings (lb demo --workers, lb status)."""
    f = next(f for f in fields(RunSettings) if f.name == name)
    return f.metadata["flag"], f.metadata["check"]


@dataclass(frozen=True)
class ManifestSettings:
    """What reading manifests needs: the files and the ranges allocation draws from."""
    files: tuple[str, ...] = setting((), "--filename")
    service_cluster_ip_range: str = setting(DEFAULT_CLUSTER_IP_RANGE, "--service-cluster-ip-range",
                                            cluster_ip_range)
    service_node_port_range: str = setting(DEFAULT_NODE_PORT_RANGE, "--service-node-port-range", node_port_range)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class RunSettings(ManifestSettings):
    """`lb run`'s flags. workers None: one per CPU."""
    workers: int | None = setting(None, "--workers", worker_count)
    nodeport_addresses: tuple[str, ...] = setting((), "--nodeport-addresses", ips_or_cidrs, each=True)
    metrics_bind_address: str = setting(DEFAULT_METRICS_BIND_ADDRESS, "--metrics-bind-address", bind_address)
    tcp_idle_timeout: float = setting(DEFAULT_TCP_IDLE_TIMEOUT, "--tcp-idle-timeout", positive_seconds)
    drain_timeout: float = setting(DEFAULT_DRAIN_TIMEOUT, "--drain-timeout", non_negative_seconds)
    dummy_interface: str = setting(DEFAULT_DUMMY_INTERFACE, "--dummy-interface", interface_name)
    ipvs_scheduler: str = setting(DEFAULT_SCHEDULER, "--ipvs-scheduler", scheduler_name)
    # ExternalName forwarding: where names are looked up (lb.sources.externalname)
    resolvers: tuple[str, ...] = ()              # --resolver ADDR[:PORT]; (): /etc/resolv.conf's nameservers
    hosts_file: str = DEFAULT_HOSTS_FILE         # --hosts-file, read before any nameserver
    # lb.dns: the embedded cluster DNS, off while dns_bind_addresses is empty
    dns_bind_addresses: tuple[str, ...] = ()     # HOST:PORT, each served on UDP and TCP
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    dns_upstreams: tuple[str, ...] | None = None  # None: refuse other names; (): /etc/resolv.conf's
    dns_search_namespace: str | None = None      # answers <svc> and <svc>.<ns> for this namespace
