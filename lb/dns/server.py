"""DNS over UDP and TCP on the event loop (uvloop in `lb run`), for one Responder.

Every resource a flood could grow is bounded:
  * UDP: a reply the zone knows is sent from datagram_received, no task; a reply that waits
    for the upstream is a task, at most MAX_PENDING at once (past it: SERVFAIL at once);
    replies are dropped while the socket's send buffer in user space holds UDP_WRITE_LIMIT.
  * TCP: at most MAX_TCP_CONNECTIONS (more are closed on accept), each closed after
    TCP_IDLE_TIMEOUT without a whole query or when its reply can't be written in that time;
    one query at a time per connection (RFC 7766 allows it, and it needs no queue).
Python creates and binds the sockets, so errors name the address and the user's next step.
"""
from __future__ import annotations

import asyncio
import errno
import inspect
import socket

from lb.addresses import host_port, socket_family
from lb.dns.responder import Responder

MAX_PENDING = 256
UDP_WRITE_LIMIT = 1 << 20
MAX_TCP_CONNECTIONS = 128
TCP_IDLE_TIMEOUT = 10.0
TCP_BACKLOG = 128
PORT_ZERO_ATTEMPTS = 20


class BindError(Exception):
    """A DNS address that could not be bound, worded for the user."""


class DnsServer:
    def __init__(self, responder: Responder, max_pending: int = MAX_PENDING,
                 max_tcp_connections: int = MAX_TCP_CONNECTIONS, tcp_idle_timeout: float = TCP_IDLE_TIMEOUT):
        self.responder = responder
        self.max_pending = max_pending
        self.max_tcp_connections = max_tcp_connections
        self.tcp_idle_timeout = tcp_idle_timeout
        self.addresses: list[tuple[str, int]] = []     # bound (host, port), ports resolved
        self._transports: list[asyncio.DatagramTransport] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._pending: set[asyncio.Task] = set()
        self._connections: set[asyncio.Task] = set()
        self.counters = {"udp_dropped_buffer": 0, "tcp_refused": 0, "tcp_timeouts": 0}

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Bind host:port for UDP and TCP (the same port, also when port is 0). Raises BindError."""
        loop = asyncio.get_running_loop()
        for attempt in range(PORT_ZERO_ATTEMPTS if port == 0 else 1):
            udp = _bound(host, port, socket.SOCK_DGRAM)
            try:
                tcp = _bound(host, udp.getsockname()[1], socket.SOCK_STREAM)
                break
            except BindError:
                udp.close()     # port 0: the kernel's UDP pick may be a TCP port in use; pick again
                if attempt == PORT_ZERO_ATTEMPTS - 1 or port != 0:
                    raise
        port = udp.getsockname()[1]
        tcp.listen(TCP_BACKLOG)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        self._transports.append(transport)
        self._servers.append(await asyncio.start_server(self._on_tcp, sock=tcp))
        self.addresses.append((host, port))
        return host, port

    async def close(self) -> None:
        for t in self._transports:
            t.close()
        for s in self._servers:
            s.close()
        for task in list(self._pending) + list(self._connections):
            task.cancel()
        await asyncio.gather(*self._pending, *self._connections, return_exceptions=True)
        for s in self._servers:
            await s.wait_closed()
        self._transports, self._servers = [], []

    # -- TCP ---------------------------------------------------------------------------------
    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= self.max_tcp_connections:
            self.counters["tcp_refused"] += 1
            writer.close()
            return
        self._connections.add(task)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                data = await asyncio.wait_for(reader.readexactly(int.from_bytes(head, "big")),
                                              self.tcp_idle_timeout)
                out = self.responder.respond(data, udp=False)
                if inspect.isawaitable(out):
                    out = await out
                if out is None:
                    break       # not a query: nothing sensible to say on this connection
                writer.write(len(out).to_bytes(2, "big") + out)
                await asyncio.wait_for(writer.drain(), self.tcp_idle_timeout)
        except (asyncio.TimeoutError, TimeoutError):
            self.counters["tcp_timeouts"] += 1
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        server = self.server
        out = server.responder.respond(data, udp=True, may_wait=len(server._pending) < server.max_pending)
        if out is None:
            return
        if isinstance(out, bytes):
            self._send(out, addr)
            return
        task = asyncio.ensure_future(out)
        server._pending.add(task)
        task.add_done_callback(lambda t: self._finished(t, addr))

    def _finished(self, task: asyncio.Task, addr) -> None:
        self.server._pending.discard(task)
        if not task.cancelled() and task.exception() is None and task.result() is not None:
            self._send(task.result(), addr)

    def _send(self, out: bytes, addr) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if t.get_write_buffer_size() > UDP_WRITE_LIMIT:
            self.server.counters["udp_dropped_buffer"] += 1
            return
        t.sendto(out, addr)

    def error_received(self, exc) -> None:
        pass     # ICMP errors of earlier sends (a client gone): nothing to do


def _bound(host: str, port: int, kind: int) -> socket.socket:
    where = f"{host_port(host, port)}/{'UDP' if kind == socket.SOCK_DGRAM else 'TCP'}"
    family = socket_family(host)
    sock = socket.socket(family, kind | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise BindError(f"cannot bind the DNS address {where}: {e.strerror}; {_hint(e, port)}") from None
    return sock


def _hint(e: OSError, port: int) -> str:
    if e.errno == errno.EADDRINUSE:
        return "another process (or a Service's frontend) holds it: pick another --dns-bind-address"
    if e.errno == errno.EACCES:
        return (f"port {port} is privileged: run lb with CAP_NET_BIND_SERVICE, lower "
                f"net.ipv4.ip_unprivileged_port_start, or use a port above 1023 such as 10053")
    if e.errno == errno.EADDRNOTAVAIL:
        return "no interface has this address: use a 127.0.0.0/8 address or add it (ip addr add ... dev lo)"
    return "check --dns-bind-address"
