"""VIPs: the cluster, external and load balancer IPs the kernel must deliver to lb.

Which addresses the kernel already accepts, and the dummy interface (lb0 by
default) that holds the rest, as kube-proxy's IPVS mode uses kube-ipvs0. We drive
iproute2 (`ip`) rather than netlink: pyroute2 is not a dependency and these calls
happen once per VIP, never per connection. Everything lb adds is recorded so that
exactly that is removed at exit; a VIP no longer wanted leaves after the drain
timeout, since its live connections die the moment the kernel stops accepting it.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import subprocess

from lb.addresses import WILDCARD_V4, WILDCARD_V6, ip_version, is_loopback, socket_family

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
    family = socket_family(ip)
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


def node_addresses(specs: tuple[str, ...]) -> tuple[str, ...]:
    """--nodeport-addresses (IPs or CIDRs, repeatable or comma-separated) -> addresses to
    listen on. Empty: both wildcards. 0.0.0.0/0 and ::/0 mean the wildcard of that family;
    another CIDR means each local address inside it now."""
    items = [s.strip() for spec in specs for s in spec.split(",") if s.strip()]
    if not items:
        return (WILDCARD_V4, WILDCARD_V6)
    out: list[str] = []
    local = None
    for item in items:
        if "/" not in item:
            out.append(str(ipaddress.ip_address(item)))
            continue
        net = ipaddress.ip_network(item, strict=False)
        if net.prefixlen == 0:
            out.append(WILDCARD_V4 if net.version == 4 else WILDCARD_V6)
            continue
        local = local if local is not None else local_addresses()
        out += sorted(a for a in local if ip_version(a) == net.version and ipaddress.ip_address(a) in net)
    return tuple(dict.fromkeys(out))


class Vips:
    """Makes the VIPs of each Plan local: loopback and already-local addresses as they
    are, the rest added to the dummy interface (needs CAP_NET_ADMIN). `errors` maps
    each VIP that cannot be served to what the user can do about it."""

    def __init__(self, interface: str, drain_timeout: float, log):
        self.dummy = DummyInterface(interface)
        self.drain_timeout = drain_timeout
        self.log = log
        self.errors: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wanted: set[str] = set()
        self._told_fallback = False

    def ensure(self, addresses: dict[str, list[str]]) -> None:
        """addresses: VIP -> the services that need it."""
        self._wanted = set(addresses)
        for ip, services in addresses.items():
            if ip in self._timers:
                self._timers.pop(ip).cancel()
            if is_loopback(ip) or ip in self.dummy.added:
                self.errors.pop(ip, None)
                continue
            try:
                if is_local(ip):
                    self.errors.pop(ip, None)
                    continue
            except OSError as e:
                self._error(ip, services, f"cannot check {ip}: {e.strerror}")
                continue
            if not has_net_admin():
                self._error(ip, services, f"{ip} is not a local address and lb lacks CAP_NET_ADMIN to add it "
                            f"to {self.dummy.name}; run lb as root or add it yourself "
                            f"(ip addr add {ip}/{128 if ':' in ip else 32} dev lo)")
                continue
            try:
                added = self.dummy.add(ip)
                if self.dummy.fallback_from and not self._told_fallback:
                    self._told_fallback = True
                    self.log("dummy_unsupported", level="warning", interface=self.dummy.fallback_from,
                             fallback=self.dummy.name, note="this kernel has no dummy links; VIPs go on lo")
                if added:
                    self.log("address_added", address=ip, interface=self.dummy.name)
                self.errors.pop(ip, None)
            except InterfaceError as e:
                self._error(ip, services, str(e))
        for ip in list(self.errors):
            if ip not in addresses:
                del self.errors[ip]

    def _error(self, ip: str, services: list[str], message: str) -> None:
        if self.errors.get(ip) != message:
            self.log("address_failed", level="error", address=ip, service=",".join(services), hint=message)
        self.errors[ip] = message

    def release_unwanted(self) -> None:
        """Schedules the removal of added VIPs that the last ensure() did not ask for."""
        loop = asyncio.get_running_loop()
        for ip in list(self.dummy.added):
            if ip not in self._wanted and ip not in self._timers:
                self._timers[ip] = loop.call_later(self.drain_timeout, self._remove, ip)

    def _remove(self, ip: str) -> None:
        self._timers.pop(ip, None)
        if ip not in self._wanted:
            self.dummy.remove(ip)
            self.log("address_removed", address=ip, interface=self.dummy.name)

    def cleanup(self) -> None:
        """Removes every address lb added (at exit)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        try:
            removed = self.dummy.cleanup()
        except InterfaceError as e:
            self.log("address_cleanup_failed", level="error", hint=str(e))
            return
        for ip in removed:
            self.log("address_removed", address=ip, interface=self.dummy.name)
