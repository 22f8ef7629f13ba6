"""The DNS flags of `lb run` and `lb dns-config`, checked as argparse reads them (a bad
value is a usage error, exit 2) and turned into RunSettings fields.

Imports nothing heavy: lb.cli imports this module for every command.
"""
from __future__ import annotations

import argparse
import re

from lb.addresses import host_port, is_ip, parse_host_port
from lb.settings import DEFAULT_CLUSTER_DOMAIN

DNS_PORT = 53
EXAMPLE_BIND_ADDRESS = "127.0.0.1:10053"   # unprivileged, loopback: the documented example
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")   # DNS-1123 label


def bind_address(text: str) -> str:
    """HOST:PORT, [V6]:PORT, :PORT (every IPv4 address) or HOST (port 53) -> "host:port"."""
    try:
        host, port = parse_host_port(text, DNS_PORT)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from None
    if not is_ip(host):
        raise argparse.ArgumentTypeError(f"{text!r}: the host must be an IP address "
                                         "(127.0.0.1:10053, [::1]:10053, :53)")
    return host_port(host, port)


def upstream_address(text: str) -> str:
    from lb.dns.upstream import parse_upstream
    try:
        return host_port(*parse_upstream(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cluster_domain(text: str) -> str:
    domain = text.strip().strip(".").lower()
    if not domain or not all(_LABEL.match(label) for label in domain.split(".")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a DNS domain (lower-case labels of [-a-z0-9])")
    return domain


def namespace(text: str) -> str:
    if not _LABEL.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a namespace name (a DNS-1123 label)")
    return text


def add_dns_args(p: argparse.ArgumentParser) -> None:
    """`lb run`'s DNS flags."""
    g = p.add_argument_group("cluster DNS (off unless --dns-bind-address is given)")
    g.add_argument("--dns-bind-address", dest="dns_bind_addresses", action="append", default=[], type=bind_address,
                   metavar="HOST:PORT", help=f"answer *.svc.<cluster-domain> on UDP and TCP here (repeatable), "
                                            f"e.g. {EXAMPLE_BIND_ADDRESS}, or :53 where lb may bind it")
    _add_zone_args(g)
    g.add_argument("--dns-upstream", dest="dns_upstreams", nargs="*", default=None, type=upstream_address,
                   metavar="ADDR", help="forward names outside the zone to ADDR[:PORT] (with a bounded cache); "
                                        "with no ADDR, to /etc/resolv.conf's nameservers; without the flag "
                                        "they are REFUSED")


def add_dns_config_args(p: argparse.ArgumentParser) -> None:
    """`lb dns-config`'s flags: the same names as lb run's."""
    p.add_argument("--dns-bind-address", dest="dns_bind_addresses", action="append", default=[], type=bind_address,
                   metavar="HOST:PORT", help=f"where lb run answers DNS (default {EXAMPLE_BIND_ADDRESS})")
    _add_zone_args(p)


def _add_zone_args(g) -> None:
    g.add_argument("--cluster-domain", default=DEFAULT_CLUSTER_DOMAIN, type=cluster_domain, metavar="DOMAIN",
                   help="the zone lb answers (default %(default)s)")
    g.add_argument("--dns-search-namespace", default=None, type=namespace, metavar="NS",
                   help="also answer <svc> and <svc>.<ns> without the search suffix, <svc> in NS")


def dns_run_settings(args) -> dict:
    """RunSettings fields from parsed `lb run` flags."""
    upstreams = args.dns_upstreams
    return dict(dns_bind_addresses=tuple(args.dns_bind_addresses), cluster_domain=args.cluster_domain,
                dns_upstreams=None if upstreams is None else tuple(upstreams),
                dns_search_namespace=args.dns_search_namespace)
