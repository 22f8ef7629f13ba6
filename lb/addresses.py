"""Addresses as lb reads and writes them: ip:port text, IP families, wildcards.

`host_port` writes [v6]:port as kubectl, ipvsadm, curl and Go's net.JoinHostPort do.
`ip_family` answers in Kubernetes' words ("IPv4"/"IPv6") with Go's net.ParseIP
reading, so an IPv4-mapped IPv6 literal (::ffff:10.0.0.1) is IPv4; `socket_family`
answers which socket can carry the text as written.
"""
from __future__ import annotations

import ipaddress
import re
import socket

IPV4, IPV6 = "IPv4", "IPv6"
WILDCARD_V4 = "0.0.0.0"
WILDCARD_V6 = "::"


def host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def ip_family(ip: str) -> str:
    """"IPv4" or "IPv6" for an address literal; IPv4-mapped IPv6 is IPv4."""
    if ":" not in ip:
        return IPV4
    if "." in ip:
        try:
            if ipaddress.IPv6Address(ip).ipv4_mapped is not None:
                return IPV4
        except ValueError:
            pass
    return IPV6


def ip_version(ip: str) -> int:
    """4 or 6, as ip_family."""
    return 4 if ip_family(ip) == IPV4 else 6


def socket_family(ip: str) -> int:
    """AF_INET6 for any IPv6 literal (mapped ones included), else AF_INET."""
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


# A dotted quad without leading zeros (what Go's net.ParseIP and ipaddress accept): most
# addresses are such, and checking them this way is several times cheaper than ipaddress
_DOTTED_QUAD = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z")


def is_ip(text: str) -> bool:
    if type(text) is str and _DOTTED_QUAD.match(text):
        return True
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def is_wildcard(ip: str) -> bool:
    return ip in (WILDCARD_V4, WILDCARD_V6)


def wildcard_of(ip: str) -> str:
    return WILDCARD_V6 if ":" in ip else WILDCARD_V4


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8 and ::1: bindable on Linux without adding them anywhere."""
    if type(ip) is str and _DOTTED_QUAD.match(ip):
        return ip.startswith("127.")
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def ip_sort_key(ip: str) -> tuple[int, int, str]:
    """Numeric address order, IPv4 before IPv6; junk last and by text."""
    try:
        if ":" in ip:
            return (6, int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big"), "")
        return (4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big"), "")
    except OSError:
        return (99, 0, ip)


def cidr_contains(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT or :PORT (every IPv4 address) -> (host, port).
    Raises ValueError for a port that is not a number in 0..65535."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    host = host.strip("[]") or WILDCARD_V4
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} is out of range 0-65535")
    return host, number
