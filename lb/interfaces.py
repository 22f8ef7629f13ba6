"""Local addresses: which VIPs the kernel already accepts, and the dummy interface
(lb0 by default) that holds the rest, as kube-proxy's IPVS mode uses kube-ipvs0.

We drive iproute2 (`ip`) rather than netlink: pyroute2 is not a dependency and
these calls happen once per VIP, never per connection. Everything lb adds is
recorded so that exactly that is removed at exit.
"""
from __future__ import annotations

import errno
import socket
import subprocess

CAP_NET_ADMIN = 12
LOOPBACK_INTERFACE = "lo"


class InterfaceError(Exception):
    """An `ip` command failed; the message says what to do."""


def has_net_admin() -> bool:
    """Whether this process may add addresses and links (CapEff bit 12)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _nonlocal_bind_allowed(family: int) -> bool:
    name = "ipv4/ip_nonlocal_bind" if family == socket.AF_INET else "ipv6/ip_nonlocal_bind"
    try:
        with open(f"/proc/sys/net/{name}") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def is_local(ip: str) -> bool:
    """Whether the kernel delivers ip to this host now.

    A bind to (ip, 0) without IP_FREEBIND succeeds exactly for local addresses,
    unless ip_nonlocal_bind is on; then we read the address list instead.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    if _nonlocal_bind_allowed(family):
        return ip in local_addresses()
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((ip, 0))
        return True
    except OSError as e:
        if e.errno == errno.EADDRNOTAVAIL:
            return False
        raise
    finally:
        s.close()


def local_addresses() -> set[str]:
    """Every address configured on an interface (not the 127/8 range beyond 127.0.0.1)."""
    out = _ip("-o", "addr", "show", check=False)
    addrs = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[2] in ("inet", "inet6"):
            addrs.add(parts[3].split("/")[0])
    return addrs


def _ip(*argv: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        raise InterfaceError("the `ip` command (iproute2) is not installed; install it or add the VIPs yourself") from None
    except subprocess.TimeoutExpired:
        raise InterfaceError(f"`ip {' '.join(argv)}` did not finish in 10 s") from None
    if check and done.returncode != 0:
        raise InterfaceError(f"`ip {' '.join(argv)}` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


class DummyInterface:
    """The dummy link that holds non-local VIPs. Created on first use when missing;
    at cleanup lb removes the addresses it added, and the link if it created it."""

    def __init__(self, name: str = "lb0"):
        self.name = name
        self.created = False
        self.ready = False
        self.fallback_from: str | None = None   # set when the kernel has no dummy links
        self.added: set[str] = set()

    def exists(self) -> bool:
        return _ip("link", "show", "dev", self.name, check=False) != ""

    def ensure(self) -> None:
        if not self.exists():
            done = subprocess.run(["ip", "link", "add", self.name, "type", "dummy"], capture_output=True,
                                  text=True, timeout=10)
            if done.returncode != 0 and "Unknown device type" in done.stderr:
                # A kernel built without CONFIG_DUMMY: lo accepts any host address too.
                self.fallback_from, self.name = self.name, LOOPBACK_INTERFACE
                self.ready = True
                return
            if done.returncode != 0:
                raise InterfaceError(f"cannot create dummy interface {self.name}: {done.stderr.strip()}")
            self.created = True
        # a local route for an address exists only while its link is up
        _ip("link", "set", self.name, "up")
        self.ready = True

    def add(self, ip: str) -> bool:
        """Add ip as a host address (/32 or /128). False when it was already there
        (someone else's: left alone at cleanup)."""
        if not self.ready:
            self.ensure()
        prefix = "128" if ":" in ip else "32"
        # nodad: an IPv6 VIP must be usable at once, not after duplicate detection.
        extra = ("nodad",) if ":" in ip else ()
        done = subprocess.run(["ip", "addr", "add", f"{ip}/{prefix}", "dev", self.name, *extra],
                              capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            if "File exists" in done.stderr:
                return False
            raise InterfaceError(f"cannot add {ip} to {self.name}: {done.stderr.strip()}")
        self.added.add(ip)
        return True

    def remove(self, ip: str) -> None:
        if ip not in self.added:
            return
        prefix = "128" if ":" in ip else "32"
        self.added.discard(ip)
        _ip("addr", "del", f"{ip}/{prefix}", "dev", self.name, check=False)

    def cleanup(self) -> list[str]:
        """Remove what lb added; returns the addresses removed."""
        removed = sorted(self.added)
        for ip in removed:
            self.remove(ip)
        if self.created:
            _ip("link", "del", self.name, check=False)
            self.created = False
        self.ready = False
        return removed
