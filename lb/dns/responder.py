"""Wire in, wire out: one DNS message from a client -> the bytes to send back (or nothing).

What it accepts and what it doesn't:
  * not even a 12-byte header, or a message with QR set: dropped (None);
  * a header that parses but a body that doesn't: FORMERR with the client's id;
  * an opcode other than QUERY: NOTIMP; a question count other than 1: FORMERR;
    EDNS version above 0: BADVERS (RFC 6891); a class other than IN, AXFR and IXFR: REFUSED;
  * names outside the zone: REFUSED, or forwarded when an Upstream is set.
UDP replies fit the client's size: 512 bytes, or its EDNS0 payload (at most MAX_UDP_PAYLOAD).
A reply that does not fit loses its additional section first; if it still does not fit it
goes out empty with TC set, and the client asks again over TCP, where 65,535 bytes fit.

In-zone replies are cached as wire bytes keyed by the query's bytes after its id (the
question's spelling, flags and EDNS options all in the key), so a repeated question costs
a dict lookup; the cache is bounded and emptied when the zone changes.
"""
from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Awaitable

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from lb.dns.answer import Answerer, Reply
from lb.dns.upstream import Busy, Upstream

MAX_UDP_PAYLOAD = 4096      # the largest EDNS0 size lb honours; what it advertises too
MIN_UDP_PAYLOAD = 512       # RFC 1035; also every client without EDNS0
MAX_TCP_MESSAGE = 65535
CACHE_ENTRIES = 20_000
HEADER = struct.Struct("!HHHHHH")
QR = 0x8000


class Responder:
    def __init__(self, answerer: Answerer, upstream: Upstream | None = None):
        self.answerer = answerer
        self.upstream = upstream
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self.counters = {"queries": 0, "cache_hits": 0, "formerr": 0, "dropped": 0, "truncated": 0,
                         "refused": 0, "nxdomain": 0, "forwarded": 0, "servfail": 0}

    def set_answerer(self, answerer: Answerer) -> None:
        self.answerer = answerer
        self._cache.clear()

    def respond(self, data: bytes, udp: bool, may_wait: bool = True) -> bytes | None | Awaitable[bytes | None]:
        """The reply to data, None to send nothing, or an awaitable of either when the reply
        needs the upstream. may_wait False: answer SERVFAIL instead of waiting (the caller's
        own limit of pending replies is reached)."""
        self.counters["queries"] += 1
        key = data[2:] + (b"u" if udp else b"t")
        hit = self._cache.get(key)
        if hit is not None:
            self.counters["cache_hits"] += 1
            return data[:2] + hit
        try:
            query = dns.message.from_wire(data)
        except dns.message.ShortHeader:
            self.counters["dropped"] += 1
            return None
        except Exception:    # dnspython's many parse errors; nothing a client sends may raise here
            return self._formerr(data)
        if query.flags & dns.flags.QR:
            self.counters["dropped"] += 1
            return None
        max_size = _max_size(query, udp)
        if query.opcode() != dns.opcode.QUERY:
            return self._render(_reply(query, dns.rcode.NOTIMP), max_size)
        if query.edns > 0:
            return self._render(_reply(query, dns.rcode.BADVERS), max_size)
        if len(query.question) != 1:
            self.counters["formerr"] += 1
            return self._render(_reply(query, dns.rcode.FORMERR), max_size)
        q = query.question[0]
        if q.rdclass != dns.rdataclass.IN or q.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            self.counters["refused"] += 1
            return self._render(_reply(query, dns.rcode.REFUSED), max_size)
        reply = self.answerer.answer(q.name, q.rdtype)
        if reply is None:
            if self.upstream is None:
                self.counters["refused"] += 1
                return self._render(_reply(query, dns.rcode.REFUSED), max_size)
            reply = Reply(chase=(q.name, q.rdtype))
            self.counters["forwarded"] += 1
            authoritative = False
        else:
            authoritative = True
        if reply.chase is not None and self.upstream is not None:
            if not may_wait or self.upstream.busy:
                self.counters["servfail"] += 1
                return self._render(_reply(query, dns.rcode.SERVFAIL), max_size)
            return self._chase(query, reply, authoritative, max_size)
        wire = self._render(self._message(query, reply, authoritative), max_size)
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.popitem(last=False)     # the oldest; O(1), unlike next(iter(dict)) after many deletes
        self._cache[key] = wire[2:]
        return wire

    async def _chase(self, query, reply: Reply, authoritative: bool, max_size: int) -> bytes:
        """Complete reply with the upstream's answer for its chase target."""
        name, rdtype = reply.chase
        try:
            result = await self.upstream.resolve(name, rdtype)
        except Busy:
            result = None
        if result is None:
            if authoritative:
                return self._render(self._message(query, reply, True), max_size)   # the CNAME alone
            self.counters["servfail"] += 1
            return self._render(_reply(query, dns.rcode.SERVFAIL), max_size)
        reply.answer.extend(result.answer)
        if not authoritative:
            reply.rcode = result.rcode
            reply.authority.extend(result.authority)
        return self._render(self._message(query, reply, authoritative), max_size)

    def _message(self, query, reply: Reply, authoritative: bool) -> dns.message.Message:
        msg = _reply(query, reply.rcode)
        if authoritative:
            msg.flags |= dns.flags.AA
        msg.answer = reply.answer
        msg.authority = reply.authority
        msg.additional = reply.additional
        if reply.rcode == dns.rcode.NXDOMAIN:
            self.counters["nxdomain"] += 1
        return msg

    def _render(self, msg: dns.message.Message, max_size: int) -> bytes:
        if self.upstream is not None:
            msg.flags |= dns.flags.RA       # lb recurses for names outside the zone
        try:
            return msg.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            pass
        msg.additional = []
        try:
            return msg.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            self.counters["truncated"] += 1
            msg.answer, msg.authority = [], []
            msg.flags |= dns.flags.TC
            return msg.to_wire(max_size=max_size)

    def _formerr(self, data: bytes) -> bytes | None:
        """FORMERR for a message whose header reads as a query; nothing otherwise."""
        ident, flags, *_ = HEADER.unpack_from(data)
        if flags & QR:
            self.counters["dropped"] += 1
            return None
        self.counters["formerr"] += 1
        opcode_bits = flags & 0x7800
        rd = flags & dns.flags.RD
        return HEADER.pack(ident, QR | opcode_bits | rd | dns.rcode.FORMERR, 0, 0, 0, 0)


def _max_size(query: dns.message.Message, udp: bool) -> int:
    if not udp:
        return MAX_TCP_MESSAGE
    if query.edns < 0:
        return MIN_UDP_PAYLOAD
    return max(MIN_UDP_PAYLOAD, min(query.payload, MAX_UDP_PAYLOAD))


def _reply(query: dns.message.Message, rcode: int) -> dns.message.Message:
    msg = dns.message.make_response(query, our_payload=MAX_UDP_PAYLOAD)
    msg.set_rcode(rcode)
    return msg
