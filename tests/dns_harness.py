"""Helpers of the DNS tests: a small authoritative DNS server the test controls, lb's own
DnsServer on a loop in a thread (so that dig, a subprocess, can ask it), and dig itself.

Everything listens on 127.0.0.0/8 and is closed by the fixture that made it.
"""
from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import threading
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from lb.config.loader import load_paths
from lb.snapshot.build import build_snapshot


class FakeDns:
    """An authoritative server for names the test sets: records[(name, type)] = (ttl, [rdata text]).
    `down` set: queries are read and never answered (an outage that times out). Counts questions."""

    def __init__(self, ip: str = "127.0.0.1"):
        self.records: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self.asked: list[tuple[str, str]] = []
        self.down = threading.Event()
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.settimeout(0.05)
        self.address = self.sock.getsockname()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def where(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def set(self, name: str, rdtype: str, ttl: int, *rdatas: str) -> None:
        self.records[(name.lower().rstrip(".") + ".", rdtype)] = (ttl, list(rdatas))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                continue
            try:
                q = dns.message.from_wire(data)
            except Exception:
                continue
            name = q.question[0].name.to_text().lower()
            rdtype = dns.rdatatype.to_text(q.question[0].rdtype)
            self.asked.append((name, rdtype))
            if self.down.is_set():
                continue
            r = dns.message.make_response(q)
            r.flags |= dns.flags.AA
            if (name, rdtype) in self.records:
                ttl, rdatas = self.records[(name, rdtype)]
                r.answer.append(dns.rrset.from_text(name, ttl, "IN", rdtype, *rdatas))
            else:
                if not any(n == name for n, _ in self.records):
                    r.set_rcode(dns.rcode.NXDOMAIN)
                zone = ".".join(name.split(".")[-3:]) or "."
                r.authority.append(dns.rrset.from_text(zone, 30, "IN", "SOA", f"ns.{zone} host.{zone} 1 60 60 60 5"))
            self.sock.sendto(r.to_wire(), addr)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


class ThreadedDns:
    """lb.dns's DnsServer with a Responder for a Snapshot, on its own event loop in a thread."""

    def __init__(self, snapshot, ip: str = "127.0.0.1", upstream: list[tuple[str, int]] | None = None,
                 search_namespace: str | None = None, domain: str = "cluster.local", **server_kw):
        from lb.dns.answer import Answerer
        from lb.dns.records import Zone
        from lb.dns.responder import Responder
        from lb.dns.server import DnsServer
        from lb.dns.upstream import Upstream

        self.domain, self.search_namespace = domain, search_namespace
        self.responder = Responder(Answerer(Zone(domain, snapshot), search_namespace),
                                   Upstream(upstream, timeout=0.5) if upstream else None)
        self.server = DnsServer(self.responder, **server_kw)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ip, self.port = self.call(self.server.listen(ip, 0))

    def call(self, coro_or_fn):
        """Run a coroutine (or a plain function) on the server's loop; its result."""
        if asyncio.iscoroutine(coro_or_fn):
            return asyncio.run_coroutine_threadsafe(coro_or_fn, self.loop).result(10)

        async def run():
            return coro_or_fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def update(self, snapshot) -> None:
        from lb.dns.answer import Answerer
        from lb.dns.records import Zone
        self.call(lambda: self.responder.set_answerer(Answerer(Zone(self.domain, snapshot), self.search_namespace)))

    def close(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def snapshot_of(*paths: Path | str):
    return build_snapshot(load_paths([str(p) for p in paths]))


class Dig:
    """One dig run: its status, flags and sections as dig prints them."""

    def __init__(self, out: str):
        self.out = out
        m = re.search(r"status: (\w+)", out)
        self.status = m.group(1) if m else None
        m = re.search(r";; flags: ([a-z ]+);", out)
        self.flags = set(m.group(1).split()) if m else set()
        self.answer = _section(out, "ANSWER")
        self.authority = _section(out, "AUTHORITY")
        self.additional = _section(out, "ADDITIONAL")

    def rdata(self, rdtype: str) -> list[str]:
        return [r[4] for r in self.answer if r[3] == rdtype]


def _section(out: str, name: str) -> list[list[str]]:
    m = re.search(rf";; {name} SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    if not m:
        return []
    return [line.split(None, 4) for line in m.group(1).splitlines() if line and not line.startswith(";")]


def dig(port: int, *args: str, server: str = "127.0.0.1", timeout: float = 10.0) -> Dig:
    done = subprocess.run(["dig", f"@{server}", "-p", str(port), "+time=2", "+tries=1", *args],
                          capture_output=True, text=True, timeout=timeout)
    return Dig(done.stdout)
