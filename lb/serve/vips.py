"""VIPs: the cluster, external and load balancer IPs the kernel must deliver to lb.

With CAP_NET_ADMIN, lb makes them local with local routes (lb.serve.netlink): one route
for each --service-cluster-ip-range that holds a served VIP (unless a network of this
machine lies inside it: its hosts would become unreachable), and a /32 or /128 route for
each VIP outside those ranges that is not local already. Addresses are not needed, so
10,000 VIPs cost one route and nothing per VIP, and listeners can be shared per port
(lb.plan, share_vip_ports). The routes go on the dummy interface (lb0 by default, as
kube-proxy's IPVS mode uses kube-ipvs0), or on lo where the kernel has no dummy links.
Without the capability, loopback VIPs (the dev proxy on 127/8) and VIPs already local
serve, and the rest are reported with what to do.

Everything lb adds is recorded and removed at exit; a VIP no longer wanted loses its
route after the drain timeout, since its live connections die the moment the kernel stops
accepting it. pyroute2 does the one-off netlink work (links, dumps).
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Mapping

from lb.addresses import WILDCARD_V4, WILDCARD_V6, ip_version, is_loopback, socket_family
from lb.serve.netlink import LocalRoutes, NetlinkError

CAP_NET_ADMIN = 12
LOOPBACK_INTERFACE = "lo"
EOPNOTSUPP = 95


class InterfaceError(Exception):
    """A link or route lb needs could not be made; the message says what to do."""


def has_net_admin() -> bool:
    """Whether this process may add routes and links (CapEff bit 12)."""
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


def _netlink(work):
    """work(ipr) with a pyroute2 IPRoute, in a thread of its own: pyroute2 0.9 runs an event
    loop of its own inside each call, which cannot nest in lb's. For one-off calls only."""
    def run():
        from pyroute2 import IPRoute
        with IPRoute() as ipr:
            return work(ipr)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def local_addresses() -> set[str]:
    """Every address configured on an interface (not the 127/8 range beyond 127.0.0.1)."""
    return _netlink(lambda ipr: {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr()} - {None})


def machine_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks this machine reaches through a route of the main table, and its addresses."""
    return _netlink(_machine_networks)


def _machine_networks(ipr) -> list:
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for route in ipr.get_routes(family=family, table=254):
            dst = route.get_attr("RTA_DST")
            if dst and route["dst_len"]:
                out.append(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False))
    for a in ipr.get_addr():
        address = a.get_attr("IFA_ADDRESS")
        if address and not ipaddress.ip_address(address).is_loopback:
            out.append(ipaddress.ip_network(address))
    return out


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


class RouteHolder:
    """The interface that holds lb's local routes: the dummy link (created on first use when
    missing, deleted at exit if lb created it), or lo on a kernel without dummy links."""

    def __init__(self, name: str = "lb0"):
        self.name = name
        self.created = False
        self.fallback_from: str | None = None
        self.index: int | None = None

    def ensure(self) -> int:
        if self.index is None:
            self.index = _netlink(self._ensure)
        return self.index

    def _ensure(self, ipr) -> int:
        from pyroute2.netlink.exceptions import NetlinkError as PyrouteError
        found = ipr.link_lookup(ifname=self.name)
        if not found:
            try:
                ipr.link("add", ifname=self.name, kind="dummy")
                self.created = True
            except PyrouteError as e:
                if e.code != EOPNOTSUPP:
                    raise InterfaceError(f"cannot create dummy interface {self.name}: {e}") from None
                # a kernel built without CONFIG_DUMMY: lo holds local routes just as well
                self.fallback_from, self.name = self.name, LOOPBACK_INTERFACE
            found = ipr.link_lookup(ifname=self.name)
        ipr.link("set", index=found[0], state="up")     # a local route serves only while its link is up
        return found[0]

    def cleanup(self) -> None:
        if self.created:
            index = self.index
            _netlink(lambda ipr: ipr.link("del", index=index))
            self.created = False
        self.index = None


class Vips:
    """Makes the VIPs of each Plan local. `errors` maps each VIP that cannot be served to
    what the user can do about it; `routes_vips` says whether VIPs are made local by routes
    (then the planner shares listeners per port)."""

    def __init__(self, interface: str, drain_timeout: float, ranges: Iterable, log, can_route: bool | None = None):
        self.holder = RouteHolder(interface)
        self.drain_timeout = drain_timeout
        self.ranges = [ipaddress.ip_network(r) for r in ranges]
        self.log = log
        self.routes_vips = has_net_admin() if can_route is None else can_route
        self.errors: dict[str, str] = {}
        self.routed: set[str] = set()                 # VIPs with a route of lb's
        self.routed_ranges: list = []                 # ranges with a route of lb's
        self._unsafe_ranges: set = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wanted: set[str] = set()
        self._handled: set[str] = set()              # VIPs made local (or local already)
        self._told_fallback = False
        self._routes: LocalRoutes | None = None

    def ensure(self, addresses: Mapping[str, tuple[str, ...]]) -> None:
        """addresses: VIP -> the services that need it. Work is done for VIPs not seen before
        (and those that failed before), so a reload costs what it changed."""
        wanted = addresses.keys()
        for ip in wanted & self._timers.keys():
            self._timers.pop(ip).cancel()
        for ip in self.errors.keys() - wanted:
            del self.errors[ip]
        self._wanted = set(wanted)
        self._handled &= self._wanted
        new = [ip for ip in wanted - self._handled if not is_loopback(ip)]
        if new:
            self._make_local(new, addresses)
        self._handled |= self._wanted - self.errors.keys()

    def _make_local(self, vips: list[str], addresses: Mapping[str, tuple[str, ...]]) -> None:
        if not self.routes_vips:
            for ip in vips:
                self._check_local(ip, addresses[ip])
            return
        try:
            self._routes = self._routes or LocalRoutes(self.holder.ensure())
        except (InterfaceError, OSError) as e:
            for ip in vips:
                self._error(ip, addresses[ip], str(e))
            return
        if self.holder.fallback_from and not self._told_fallback:
            self._told_fallback = True
            self.log("dummy_unsupported", level="warning", interface=self.holder.fallback_from,
                     fallback=self.holder.name, note="this kernel has no dummy links; VIP routes go on lo")
        rest = [ip for ip in vips if ip not in self.routed and not self._route_range_of(ip)]
        rest = [ip for ip in rest if not self._local_already(ip, addresses[ip])]
        failed = self._routes.add(rest)
        for ip in rest:
            err = failed.get(ip)
            if err is None:
                self.routed.add(ip)
                self.errors.pop(ip, None)
            elif err.errno != errno.EEXIST:       # EEXIST: someone's route makes it local already
                self._error(ip, addresses[ip], f"cannot make {ip} local: {err}")
        if rest:
            self.log("routes_added", count=len(rest) - len(failed), interface=self.holder.name)

    def _route_range_of(self, ip: str) -> bool:
        """Whether a service range's route covers ip (adding that route on first use)."""
        address = ipaddress.ip_address(ip)
        for net in self.ranges:
            if address.version != net.version or address not in net:
                continue
            if net in self.routed_ranges:
                return True
            if net in self._unsafe_ranges:
                return False
            # Local routes come before the main table: a network of this machine that overlaps
            # the range (inside it, or holding it) would lose those hosts. kube-proxy makes
            # only the allocated IPs special; here every VIP gets a route of its own then.
            clash = next((m for m in machine_networks() if m.version == net.version and m.overlaps(net)), None)
            if clash is not None:
                self._unsafe_ranges.add(net)
                self.log("range_not_routed", level="warning", range=str(net), reason=f"{clash} lies inside it",
                         note="VIPs in it get a route each instead")
                return False
            failed = self._routes.add([str(net)])
            if str(net) in failed and failed[str(net)].errno != errno.EEXIST:
                self._unsafe_ranges.add(net)
                self.log("range_not_routed", level="warning", range=str(net), reason=str(failed[str(net)]))
                return False
            if str(net) not in failed:
                self.routed_ranges.append(net)
                self.log("range_routed", range=str(net), interface=self.holder.name,
                         note="every address in it is local: VIPs need no address each")
            return True
        return False

    def _local_already(self, ip: str, services) -> bool:
        try:
            return is_local(ip)
        except OSError as e:
            self._error(ip, services, f"cannot check {ip}: {e.strerror}")
            return True

    def _check_local(self, ip: str, services) -> None:
        try:
            if is_local(ip):
                self.errors.pop(ip, None)
                return
        except OSError as e:
            self._error(ip, services, f"cannot check {ip}: {e.strerror}")
            return
        self._error(ip, services, f"{ip} is not a local address and lb lacks CAP_NET_ADMIN to route it "
                    f"locally; run lb as root or add it yourself (ip addr add {ip}/{128 if ':' in ip else 32} dev lo)")

    def _error(self, ip: str, services, message: str) -> None:
        if self.errors.get(ip) != message:
            self.log("address_failed", level="error", address=ip, service=",".join(services), hint=message)
        self.errors[ip] = message

    def release_unwanted(self) -> None:
        """Schedules the removal of VIP routes that the last ensure() did not ask for."""
        loop = asyncio.get_running_loop()
        gone = [ip for ip in self.routed if ip not in self._wanted and ip not in self._timers]
        for ip in gone:
            self._timers[ip] = loop.call_later(self.drain_timeout, self._remove, ip)

    def _remove(self, ip: str) -> None:
        self._timers.pop(ip, None)
        if ip not in self._wanted and ip in self.routed:
            self.routed.discard(ip)
            self._handled.discard(ip)
            self._routes.delete([ip])
            self.log("route_removed", address=ip, interface=self.holder.name)

    def cleanup(self) -> None:
        """Removes every route (and the link) lb added, at exit: one batch."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._routes is None:
            return
        prefixes = sorted(self.routed) + [str(n) for n in self.routed_ranges]
        failed = self._routes.delete(prefixes)
        for prefix, err in failed.items():
            self.log("route_cleanup_failed", level="error", route=prefix, hint=str(err))
        self.log("routes_removed", count=len(prefixes) - len(failed), interface=self.holder.name)
        self.routed.clear()
        self.routed_ranges.clear()
        try:
            self.holder.cleanup()
        except Exception as e:     # pyroute2's NetlinkError, OSError: the link stays, say so
            self.log("link_cleanup_failed", level="error", interface=self.holder.name, hint=str(e))
