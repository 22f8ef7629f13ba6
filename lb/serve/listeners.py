"""Listening sockets: created, configured and bound here, then handed to the core.

Python owns the bind so that its errors are caught where they happen and worded
for the user; the core only ever sees a bound, listening, non-blocking fd
(docs/internals.md). With several workers, each gets its own SO_REUSEPORT socket
per (address, port, protocol) while that costs at most PER_WORKER_FD_BUDGET
descriptors: the kernel then spreads connections evenly by flow hash. Past the
budget (thousands of Services in a 20,000-descriptor limit) one socket is shared
by every worker through EPOLLEXCLUSIVE, which costs one descriptor but lets the
first idle worker take most connections. Node ports get one wildcard socket per family.
"""
from __future__ import annotations

import errno
import socket

from lb.addresses import host_port, is_wildcard, socket_family

# Not every Python build exports these; the values are Linux's (linux/in.h, in6.h).
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
IPV6_FREEBIND = 78
DEFAULT_BACKLOG = 4096
PER_WORKER_FD_BUDGET = 1024   # descriptors that per-worker listener copies may take in all


class ListenError(Exception):
    """A bind or listen that failed, with a message a user can act on."""

    def __init__(self, address: str, err: OSError, hint: str):
        super().__init__(hint)
        self.address = address
        self.errno = err.errno
        self.reason = errno.errorcode.get(err.errno or 0, "error")
        self.hint = hint


def backlog() -> int:
    """4096, or net.core.somaxconn when it is larger (the kernel caps at it anyway)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return max(DEFAULT_BACKLOG, int(f.read().strip()))
    except (OSError, ValueError):
        return DEFAULT_BACKLOG


def open_tcp_listener(ip: str, port: int, freebind: bool = False, reuseport: bool = False) -> socket.socket:
    """A bound, listening, non-blocking TCP socket on ip:port.

    Accepts IPv4/IPv6 literals including the wildcards 0.0.0.0 and :: (the IPv6
    wildcard is IPV6_V6ONLY so that 0.0.0.0 can be bound beside it). freebind lets
    an address not yet configured be bound; callers check locality first. reuseport
    lets the workers' copies share ip:port (only with sockets of this user that set it too).
    Raises ListenError (never a bare OSError) with the user's next step.
    """
    sock = _bound_socket(ip, port, freebind, reuseport)
    try:
        sock.setblocking(False)
        sock.listen(backlog())
    except OSError as e:
        sock.close()
        raise ListenError(host_port(ip, port), e, _hint(host_port(ip, port), port, e)) from None
    return sock


def ensure_unclaimed(ip: str, port: int, freebind: bool = False) -> None:
    """Raises ListenError when any socket holds ip:port. SO_REUSEPORT binds would succeed
    beside another process of this user that set it too (a second lb, say) and quietly split
    the traffic; a plain bind fails there, as a user expects."""
    _bound_socket(ip, port, freebind, reuseport=False).close()


def _bound_socket(ip: str, port: int, freebind: bool, reuseport: bool) -> socket.socket:
    family = socket_family(ip)
    where = host_port(ip, port)
    try:
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    except OSError as e:
        raise ListenError(where, e, _hint(where, port, e)) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if freebind:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind((ip, port))
    except OSError as e:
        sock.close()
        raise ListenError(where, e, _hint(where, port, e)) from None
    return sock


def _hint(where: str, port: int, e: OSError) -> str:
    if e.errno == errno.EADDRINUSE:
        return f"another process holds {where}; stop it or change the port in the manifest"
    if e.errno in (errno.EACCES, errno.EPERM) and port < 1024:
        return (f"binding {where} needs root or CAP_NET_BIND_SERVICE (port {port} < 1024); "
                "run lb as root, grant the capability, or use a port >= 1024")
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"binding {where} was refused by the kernel ({e.strerror})"
    if e.errno == errno.EADDRNOTAVAIL:
        return f"{where}: the address is not local; add it to an interface or run lb with CAP_NET_ADMIN"
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return f"out of file descriptors binding {where}; raise the limit (ulimit -n)"
    if e.errno == errno.EAFNOSUPPORT:
        return f"{where}: this address family is disabled in the kernel"
    return f"cannot listen on {where}: {e.strerror or e}"


class ListenerSet:
    """The listeners handed to the core, keyed by (ip, port, protocol). The core owns
    each fd once add_listener returned; ids come from lb.plan.IdMaps."""

    def __init__(self, core, workers: int = 1):
        self.core = core
        self.workers = workers
        self.active: dict[tuple[str, int, str], int] = {}
        self.per_worker: set[tuple[str, int, str]] = set()   # keys served by one socket per worker

    def open(self, key: tuple[str, int, str], listener_id: int, freebind: bool = False) -> None:
        ip, port, _proto = key
        copies = self.workers if self.workers > 1 else 0
        if (len(self.per_worker) + 1) * copies > PER_WORKER_FD_BUDGET:
            copies = 0
        socks: list[socket.socket] = []
        if copies:
            ensure_unclaimed(ip, port, freebind)
        try:
            for _ in range(copies or 1):
                socks.append(open_tcp_listener(ip, port, freebind=freebind, reuseport=bool(copies)))
            for worker, sock in enumerate(socks):
                self.core.add_listener(sock.fileno(), listener_id, is_wildcard(ip), worker if copies else -1)
                sock.detach()
        except OSError as e:
            self._abandon(listener_id, socks)
            raise ListenError(host_port(ip, port), e, f"the core refused {host_port(ip, port)}: {e.strerror or e}") from None
        except BaseException:
            self._abandon(listener_id, socks)
            raise
        self.active[key] = listener_id
        if copies:
            self.per_worker.add(key)

    def _abandon(self, listener_id: int, socks: list[socket.socket]) -> None:
        """Undoes a partly opened listener: the core closes what it took, we close the rest."""
        if any(s.fileno() < 0 for s in socks):
            self.core.remove_listener(listener_id)
        for sock in socks:
            sock.close()

    def close(self, key: tuple[str, int, str]) -> None:
        listener_id = self.active.pop(key, None)
        self.per_worker.discard(key)
        if listener_id is not None:
            self.core.remove_listener(listener_id)
