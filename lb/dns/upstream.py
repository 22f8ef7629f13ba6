"""Names outside the zone, forwarded to upstream nameservers (`--dns-upstream`).

A bounded cache sits in front: at most CACHE_ENTRIES answers, each kept for its smallest
TTL but never longer than MAX_TTL (negative answers: the SOA's minimum, at most
MAX_NEGATIVE_TTL; failures are not cached), handed out with TTLs counted down. At most
MAX_IN_FLIGHT distinct questions are asked upstream at once, and a question already in
flight is not asked again: its askers wait for the same answer. Past the limit `resolve`
raises Busy at once, so a flood of names never becomes a queue.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from lb.addresses import is_ip, parse_host_port

CACHE_ENTRIES = 10_000
MAX_TTL = 300
MAX_NEGATIVE_TTL = 30
MAX_IN_FLIGHT = 64
TIMEOUT = 2.0                 # per upstream server; the next one is asked after it
EDNS_PAYLOAD = 1232           # what lb asks upstream for (DNS flag day 2020)
DNS_PORT = 53


class Busy(Exception):
    """MAX_IN_FLIGHT questions are already upstream."""


@dataclass(frozen=True)
class Result:
    rcode: int
    answer: tuple
    authority: tuple


def parse_upstream(text: str) -> tuple[str, int]:
    """ADDR, ADDR:PORT or [V6]:PORT -> (ip, port). Raises ValueError for names: lb forwards
    to addresses only, so it never needs a resolver to find its resolver."""
    text = text.strip()
    if is_ip(text):
        return text, DNS_PORT
    host, port = parse_host_port(text, DNS_PORT)
    if not is_ip(host) or port == 0:
        raise ValueError(f"{text!r} is not an IP address with an optional port (ADDR, ADDR:PORT, [V6]:PORT)")
    return host, port


def resolv_conf_nameservers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The `nameserver` lines of a resolv.conf (port 53: resolv.conf has no port syntax)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and is_ip(parts[1].split("%")[0]):
                    out.append((parts[1].split("%")[0], DNS_PORT))
    except OSError:
        pass
    return out


class Upstream:
    def __init__(self, servers: list[tuple[str, int]], cache_entries: int = CACHE_ENTRIES,
                 max_in_flight: int = MAX_IN_FLIGHT, timeout: float = TIMEOUT):
        self.servers = list(servers)
        self.cache_entries = cache_entries
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self._cache: OrderedDict[tuple[str, int], tuple[float, Result]] = OrderedDict()
        self._in_flight: dict[tuple[str, int], asyncio.Future] = {}
        self.counters = {"queries": 0, "cache_hits": 0, "failures": 0, "busy": 0}

    @property
    def busy(self) -> bool:
        return len(self._in_flight) >= self.max_in_flight

    async def resolve(self, name: dns.name.Name, rdtype: int) -> Result | None:
        """The upstream's answer (TTLs counted down when cached), None when every server
        failed. Raises Busy when MAX_IN_FLIGHT other questions are upstream."""
        key = (name.to_text().lower(), rdtype)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None:
            expires, result = hit
            if expires > now:
                self.counters["cache_hits"] += 1
                return _aged(result, int(expires - now + 0.999))
            del self._cache[key]
        shared = self._in_flight.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        if self.busy:
            self.counters["busy"] += 1
            raise Busy()
        future = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await self._ask(name, rdtype)
            future.set_result(result)
        except BaseException as e:
            future.set_result(None)
            if not isinstance(e, Exception):
                raise
            result = None
        finally:
            del self._in_flight[key]
        if result is None:
            self.counters["failures"] += 1
            return None
        ttl = _cache_ttl(result)
        if ttl > 0:
            if len(self._cache) >= self.cache_entries:
                self._cache.popitem(last=False)     # the oldest entry
            self._cache[key] = (time.monotonic() + ttl, result)
        return result

    async def _ask(self, name: dns.name.Name, rdtype: int) -> Result | None:
        self.counters["queries"] += 1
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        for ip, port in self.servers:
            try:
                response, _ = await dns.asyncquery.udp_with_fallback(query, ip, timeout=self.timeout, port=port)
            except (dns.exception.DNSException, OSError, EOFError, ValueError):
                continue
            if response.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                continue
            return Result(response.rcode(), tuple(response.answer), tuple(response.authority))
        return None


def _cache_ttl(result: Result) -> int:
    if result.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return 0
    if result.answer:
        return min(MAX_TTL, min(rrset.ttl for rrset in result.answer))
    soa = [rrset for rrset in result.authority if rrset.rdtype == dns.rdatatype.SOA]
    if not soa:
        return 0
    return min(MAX_NEGATIVE_TTL, soa[0].ttl, soa[0][0].minimum)


def _aged(result: Result, ttl_left: int) -> Result:
    """result with every TTL at most ttl_left (copies: cached rrsets are never changed)."""
    def age(rrsets):
        out = []
        for rrset in rrsets:
            copy = rrset.copy()
            copy.ttl = min(rrset.ttl, ttl_left)
            out.append(copy)
        return tuple(out)
    return Result(result.rcode, age(result.answer), age(result.authority))
