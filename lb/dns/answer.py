"""One question -> the sections of lb's reply: names in the zone, reverse names of its
addresses, and short names (`--dns-search-namespace`). Everything else is not lb's (None).

Negative answers carry the zone's SOA in the authority section, shaped as CoreDNS's
(plugin.SOA): `<zone> 5 IN SOA ns.dns.<zone> hostmaster.<zone> <serial> 7200 1800 86400 5`.
A name that exists without data of the asked type is NODATA (NOERROR, empty answer), one
that does not exist NXDOMAIN. SRV records get priority 0 and CoreDNS's weight: 100 split
evenly over the records the name holds (floor, at least 1), and the addresses of their
targets in the additional section.

Short names are answered as CoreDNS's autopath does: `web.` CNAME `web.<ns>.svc.<zone>.`
followed by that name's records, so every record keeps its real owner.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

from lb.dns.records import (DEFAULT_TTL, NO_PORT, SCHEMA_VERSION_TTL, SOA_EXPIRE, SOA_MAX_TTL, SOA_REFRESH,
                            SOA_RETRY, Node, Zone)

IN = dns.rdataclass.IN
T = dns.rdatatype
MAX_CNAME_CHAIN = 8            # an ExternalName pointing into the zone is followed this deep
REVERSE_ZONES = ("in-addr.arpa.", "ip6.arpa.")


@dataclass
class Reply:
    rcode: int = dns.rcode.NOERROR
    answer: list = field(default_factory=list)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)
    chase: tuple[dns.name.Name, int] | None = None   # a CNAME target outside the zone, for the upstream


class Answerer:
    """Answers questions from one Zone (replaced whole on every reload)."""

    def __init__(self, zone: Zone, search_namespace: str | None = None):
        self.zone = zone
        self.origin = dns.name.from_text(zone.origin)
        self._search = ((f"{search_namespace.lower()}.svc.{zone.origin}", f"svc.{zone.origin}")
                        if search_namespace else ())

    def answer(self, qname: dns.name.Name, qtype: int) -> Reply | None:
        """The reply to (qname, qtype, IN), or None when the name is not lb's."""
        key = qname.to_text().lower()
        if qname.is_subdomain(self.origin):
            reply = Reply()
            self._in_zone(qname, key, qtype, reply, 0)
            return reply
        targets = self.zone.reverse.get(key)
        if targets is not None:
            return self._reverse(qname, key, qtype, targets)
        if self._search and len(qname) > 1:
            for suffix in self._search:
                full = key + suffix
                if full in self.zone.names:
                    reply = Reply()
                    target = dns.name.from_text(full)
                    reply.answer.append(_rrset(qname, T.CNAME, [CNAME(IN, T.CNAME, target)]))
                    self._follow(target, full, qtype, reply, 1)
                    return reply
        return None

    # -- in the zone -----------------------------------------------------------------------------
    def _in_zone(self, qname, key: str, qtype: int, reply: Reply, depth: int) -> None:
        node = self.zone.names.get(key)
        if node is None:
            reply.rcode = dns.rcode.NXDOMAIN
            reply.authority.append(self.soa(self.zone.origin))
            return
        if node.cname is not None:
            target = dns.name.from_text(node.cname)
            reply.answer.append(_rrset(qname, T.CNAME, [CNAME(IN, T.CNAME, target)]))
            self._follow(target, node.cname, qtype, reply, depth + 1)
            return
        before = len(reply.answer)
        if key == self.zone.origin:
            self._apex(qname, qtype, reply)
        types = (T.A, T.AAAA, T.SRV, T.TXT) if qtype == T.ANY else (qtype,)
        for rdtype in types:
            self._records(qname, node, rdtype, reply)
        if len(reply.answer) == before:
            reply.authority.append(self.soa(self.zone.origin))

    def _follow(self, target: dns.name.Name, key: str, qtype: int, reply: Reply, depth: int) -> None:
        """Continue a CNAME chain at target: in the zone here, outside it through the upstream."""
        if qtype == T.CNAME:
            return
        if not target.is_subdomain(self.origin):
            reply.chase = (target, qtype)
            return
        if depth >= MAX_CNAME_CHAIN:
            return
        self._in_zone(target, key, qtype, reply, depth)

    def _records(self, qname, node: Node, rdtype: int, reply: Reply) -> None:
        if rdtype == T.A or rdtype == T.AAAA:
            rds = _addresses(node, rdtype)
            if rds:
                reply.answer.append(_rrset(qname, rdtype, rds))
        elif rdtype == T.SRV:
            self._srv(qname, node, reply)
        elif rdtype == T.TXT and node.txt:
            reply.answer.append(_rrset(qname, T.TXT, [TXT(IN, T.TXT, [t.encode()]) for t in node.txt],
                                       SCHEMA_VERSION_TTL))

    def _srv(self, qname, node: Node, reply: Reply) -> None:
        entries = node.entries
        if not entries:
            return
        weight = max(1, 100 // len(entries))     # CoreDNS counts every entry, duplicates too
        srvs, seen, extra = [], set(), {}
        for e in entries:
            if e.port == NO_PORT:
                continue
            if (e.target, e.port) not in seen:
                seen.add((e.target, e.port))
                srvs.append(SRV(IN, T.SRV, 0, weight, e.port, dns.name.from_text(e.target)))
            rdtype = T.AAAA if ":" in e.host else T.A
            hosts = extra.setdefault((e.target, rdtype), [])
            if e.host not in hosts:
                hosts.append(e.host)
        if srvs:
            reply.answer.append(_rrset(qname, T.SRV, srvs))
        for (target, rdtype), hosts in extra.items():
            cls = AAAA if rdtype == T.AAAA else A
            reply.additional.append(_rrset(dns.name.from_text(target), rdtype, [cls(IN, rdtype, h) for h in hosts]))

    def _apex(self, qname, qtype: int, reply: Reply) -> None:
        if qtype in (T.SOA, T.ANY):
            reply.answer.append(self.soa(self.zone.origin, owner=qname))
        if qtype in (T.NS, T.ANY):
            ns = f"ns.dns.{self.zone.origin}"
            reply.answer.append(_rrset(qname, T.NS, [NS(IN, T.NS, dns.name.from_text(ns))]))
            for rdtype in (T.A, T.AAAA):
                rds = _addresses(self.zone.names[ns], rdtype)
                if rds:
                    reply.additional.append(_rrset(dns.name.from_text(ns), rdtype, rds))

    # -- reverse names ---------------------------------------------------------------------------
    def _reverse(self, qname, key: str, qtype: int, targets: tuple[str, ...]) -> Reply:
        reply = Reply()
        if qtype in (T.PTR, T.ANY):
            reply.answer.append(_rrset(qname, T.PTR, [PTR(IN, T.PTR, dns.name.from_text(t)) for t in targets]))
        else:
            reply.authority.append(self.soa(REVERSE_ZONES[0] if key.endswith(REVERSE_ZONES[0]) else REVERSE_ZONES[1]))
        return reply

    def soa(self, zone: str, owner=None) -> dns.rrset.RRset:
        rd = SOA(IN, T.SOA, dns.name.from_text("ns.dns." + zone), dns.name.from_text("hostmaster." + zone),
                 self.zone.serial % (1 << 32), SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, DEFAULT_TTL)
        return _rrset(owner or dns.name.from_text(zone), T.SOA, [rd], min(DEFAULT_TTL, SOA_MAX_TTL))


def _addresses(node: Node, rdtype: int) -> list:
    v6 = rdtype == T.AAAA
    cls = AAAA if v6 else A
    out, seen = [], set()
    for e in node.entries:
        if (":" in e.host) == v6 and e.host not in seen:
            seen.add(e.host)
            out.append(cls(IN, rdtype, e.host))
    return out


def _rrset(owner: dns.name.Name, rdtype: int, rdatas: list, ttl: int = DEFAULT_TTL) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(owner, IN, rdtype)
    for rd in rdatas:
        rrset.add(rd, ttl)
    return rrset
