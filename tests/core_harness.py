"""Helpers for the lb._core scenario tests (tests/test_core_*.py): backends run in this process
on 127.0.0.x:0 (and ::1), a Core forwards to them, tests assert what clients saw and what
stats() reports. The fixtures that start and stop these (proxy, tcp_backends) are in the
"core harness" section of conftest.py.
"""
import selectors
import socket
import threading

from lb import _core

SP = 10


class Backend:
    """A TCP server on (ip, 0): handler(conn) runs in a thread per connection. The default
    handler sends the backend's tag line, then echoes."""

    def __init__(self, ip="127.0.0.2", handler=None, tag=None):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(1024)
        self.ip, self.port = self.sock.getsockname()[:2]
        self.tag = tag or f"{self.ip}:{self.port}".encode()
        self.handler = handler or self.tag_echo
        self.accepted = 0
        self.conns = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def tag_echo(self, c):
        c.sendall(self.tag + b"\n")
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handler(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._t.join(5)


class SelectorEcho:
    """One thread, many connections: echoes everything (for the 1,000-connection tests)."""

    def __init__(self, ip="127.0.0.2"):
        self.sock = socket.socket()
        self.sock.bind((ip, 0))
        self.sock.listen(4096)
        self.sock.setblocking(False)
        self.ip, self.port = self.sock.getsockname()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.1):
                if key.fileobj is self.sock:
                    while True:
                        try:
                            c, _ = self.sock.accept()
                        except BlockingIOError:
                            break
                        c.setblocking(True)
                        self.sel.register(c, selectors.EVENT_READ)
                else:
                    c = key.fileobj
                    try:
                        d = c.recv(65536)
                    except OSError:
                        d = b""
                    if d:
                        c.sendall(d)
                    else:
                        self.sel.unregister(c)
                        c.close()

    def close(self):
        self.stop = True
        self._t.join(5)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def refused_port(ip="127.0.0.2"):
    """A port nothing listens on (connects to it are refused)."""
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proxy:
    """A started Core with one listener per frontend address; builds tables from backends."""

    def __init__(self, workers=2, **kw):
        self.core = _core.Core(workers=workers, **kw)
        self.ports = {}
        self.core.start()

    def listen(self, lid, ip="127.0.0.1", wildcard=False):
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, 0))
        s.listen(4096)
        s.setblocking(False)
        self.core.add_listener(s.fileno(), lid, wildcard=wildcard)
        self.ports[lid] = (ip, s.getsockname()[1])
        s.detach()
        return self.ports[lid]

    @staticmethod
    def table(endpoints, affinity=0, sp=SP, lid=1, extra=(), scheduler="rr", options=()):
        """A one-service-port table; endpoints: [(ep_id, ip, port)] or [(ep_id, ip, port, weight)];
        options: the row's scheduler options (a 6th element when given)."""
        row = (sp, "test/svc:p/TCP", scheduler, affinity,
               tuple((e[0], e[1], e[2], e[3] if len(e) > 3 else 1) for e in endpoints))
        return {
            "service_ports": [row + ((tuple(options),) if options else ())] + list(extra),
            "frontends": [(lid, "", 0, sp)],
        }

    def apply(self, endpoints, affinity=0, sp=SP, lid=1, extra=(), scheduler="rr", options=()):
        return self.core.apply(self.table(endpoints, affinity, sp, lid, extra, scheduler, options))

    def connect(self, lid=1, source=None, timeout=5):
        return socket.create_connection(self.ports[lid], timeout=timeout, source_address=source)

    def close(self):
        self.core.stop(1.0)


def eps_of(bs, first=100):
    return [(first + i, b.ip, b.port) for i, b in enumerate(bs)]


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise ConnectionError("closed before a full line: %r" % buf)
        buf += d
    return buf[:-1]


def tag_of(proxy, **kw):
    """The tag of the backend a new connection through proxy reaches."""
    with proxy.connect(**kw) as c:
        return read_line(c)
