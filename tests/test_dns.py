"""The embedded cluster DNS: every record kind, negative answers, truncation, malformed
packets and floods against lb.dns on a 127.0.0.x port, asked by the real dig and by
dnspython. End-to-end `lb run --dns-bind-address` cases live in test_dns_run.py."""
from __future__ import annotations

import socket
import struct
import time

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from dns_harness import FakeDns, ThreadedDns, dig, snapshot_of
from lb.dns.conflicts import bind_conflicts

ZONE = "cluster.local"
SEED = "configs/seed"

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: study}
spec:
  clusterIP: 127.30.0.10
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: 8080}
  - {port: 81, protocol: TCP, targetPort: 8081, name: metrics}
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: study}
subsets:
- addresses: [{ip: 127.31.0.1}]
  ports: [{name: http, port: 8080}, {name: metrics, port: 8081}]
---
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: study}
spec:
  clusterIP: 127.30.0.11
  clusterIPs: [127.30.0.11, "fd00:30::11"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: search, namespace: study}
spec:
  type: ExternalName
  externalName: www.example.test
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: study}
spec:
  type: ExternalName
  externalName: web.study.svc.cluster.local
"""


def headless(name: str, addresses: str, spec: str = "") -> str:
    """A headless Service with one named port and its Endpoints subset (addresses: YAML keys)."""
    return (f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: study}}\nspec:\n"
            f"  clusterIP: None\n{spec}  ports: [{{name: pg, port: 5432, protocol: TCP}}]\n---\napiVersion: v1\n"
            f"kind: Endpoints\nmetadata: {{name: {name}, namespace: study}}\nsubsets:\n- {addresses}"
            "  ports: [{name: pg, port: 5432}]\n")


SERVICES += headless("db", "addresses:\n  - {ip: 10.244.1.5, hostname: db-0}\n  - {ip: 10.244.1.6, hostname: db-1}\n"
                      "  - {ip: 10.244.1.7}\n  notReadyAddresses:\n  - {ip: 10.244.1.8, hostname: db-3}\n")
SERVICES += headless("empty", "notReadyAddresses: [{ip: 10.244.2.1}]\n")
SERVICES += headless("warm", "notReadyAddresses: [{ip: 10.244.3.1}]\n", "  publishNotReadyAddresses: true\n")


def fqdn(name: str) -> str:
    return f"{name}.{ZONE}."


@pytest.fixture
def fake_dns():
    made = []

    def make(ip: str = "127.0.0.1") -> FakeDns:
        made.append(FakeDns(ip))
        return made[-1]
    yield make
    for f in made:
        f.close()


@pytest.fixture
def lb_dns():
    """lb_dns(snapshot, **kw) -> ThreadedDns on 127.0.0.1, closed at teardown."""
    made = []

    def make(snapshot, **kw) -> ThreadedDns:
        made.append(ThreadedDns(snapshot, **kw))
        return made[-1]
    yield make
    for s in made:
        s.close()


@pytest.fixture
def study(manifest, lb_dns):
    return lb_dns(snapshot_of(manifest(SERVICES)))


def ask(server: ThreadedDns, name: str, rdtype: str = "A", tcp: bool = False, **kw) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, **kw)
    query = dns.query.tcp if tcp else dns.query.udp
    return query(q, server.ip, port=server.port, timeout=3)


# -- the seed and every record kind ---------------------------------------------------------------

def test_seed_headless_service_answers_its_three_ready_pods(lb_dns):
    server = lb_dns(snapshot_of(f"{SEED}/headless"))
    d = dig(server.port, fqdn("service-headliness.study.svc"))
    assert d.status == "NOERROR"
    assert {"qr", "aa", "rd"} <= d.flags
    assert sorted(d.rdata("A")) == ["10.244.104.10", "10.244.166.129", "10.244.166.191"]
    assert all(r[1] == "5" for r in d.answer)        # CoreDNS's default TTL


def test_cluster_ip_service_answers_a_and_aaaa_per_family(study):
    assert dig(study.port, fqdn("web.study.svc"), "A").rdata("A") == ["127.30.0.10"]
    assert dig(study.port, fqdn("dual.study.svc"), "A").rdata("A") == ["127.30.0.11"]
    assert dig(study.port, fqdn("dual.study.svc"), "AAAA").rdata("AAAA") == ["fd00:30::11"]


def test_srv_for_named_ports_points_at_the_service_name(study):
    d = dig(study.port, fqdn("_http._tcp.web.study.svc"), "SRV")
    assert d.rdata("SRV") == [f"0 100 80 {fqdn('web.study.svc')}"]
    assert [r[3:] for r in d.additional if r[3] == "A"] == [["A", "127.30.0.10"]]
    assert dig(study.port, fqdn("_metrics._tcp.web.study.svc"), "SRV").rdata("SRV") == \
        [f"0 100 81 {fqdn('web.study.svc')}"]
    # the protocol label is lower case; another protocol is no name at all
    assert dig(study.port, fqdn("_http._udp.web.study.svc"), "SRV").status == "NXDOMAIN"


def test_headless_srv_has_one_record_per_ready_endpoint(study):
    d = dig(study.port, fqdn("_pg._tcp.db.study.svc"), "SRV")
    assert sorted(d.rdata("SRV")) == sorted(f"0 33 5432 {fqdn(h + '.db.study.svc')}"
                                            for h in ("db-0", "db-1", "10-244-1-7"))
    assert sorted(r[4] for r in d.additional) == ["10.244.1.5", "10.244.1.6", "10.244.1.7"]


def test_headless_endpoints_get_their_hostname_or_dashed_ip(study):
    assert dig(study.port, fqdn("db-0.db.study.svc")).rdata("A") == ["10.244.1.5"]
    assert dig(study.port, fqdn("10-244-1-7.db.study.svc")).rdata("A") == ["10.244.1.7"]
    assert dig(study.port, fqdn("db-3.db.study.svc")).status == "NXDOMAIN"     # not ready
    assert sorted(dig(study.port, fqdn("db.study.svc")).rdata("A")) == ["10.244.1.5", "10.244.1.6", "10.244.1.7"]


def test_headless_without_ready_endpoints_is_nxdomain_unless_published_not_ready(study):
    d = dig(study.port, fqdn("empty.study.svc"))
    assert d.status == "NXDOMAIN"
    assert dig(study.port, fqdn("warm.study.svc")).rdata("A") == ["10.244.3.1"]


def test_ptr_names_cluster_ips_and_endpoints(study):
    assert dig(study.port, "-x", "127.30.0.10").rdata("PTR") == [fqdn("web.study.svc")]
    assert dig(study.port, "-x", "fd00:30::11").rdata("PTR") == [fqdn("dual.study.svc")]
    assert dig(study.port, "-x", "10.244.1.5").rdata("PTR") == [fqdn("db-0.db.study.svc")]
    assert dig(study.port, "-x", "192.0.2.1").status == "REFUSED"      # not lb's


def test_dns_version_is_the_schema_coredns_serves(study):
    d = dig(study.port, fqdn("dns-version"), "TXT")
    assert d.rdata("TXT") == ['"1.1.0"']


def test_external_name_is_a_cname_and_followed_inside_the_zone(study):
    d = dig(study.port, fqdn("search.study.svc"))
    assert d.status == "NOERROR"
    assert d.answer == [[fqdn("search.study.svc"), "5", "IN", "CNAME", "www.example.test."]]
    d = dig(study.port, fqdn("alias.study.svc"))
    assert d.rdata("CNAME") == [fqdn("web.study.svc")] and d.rdata("A") == ["127.30.0.10"]


def test_external_name_target_is_resolved_through_the_upstream(manifest, lb_dns, fake_dns):
    upstream = fake_dns("127.0.0.1")
    upstream.set("www.example.test", "A", 60, "192.0.2.10", "192.0.2.11")
    server = lb_dns(snapshot_of(manifest(SERVICES)), upstream=[upstream.address])
    d = dig(server.port, fqdn("search.study.svc"))
    assert d.rdata("CNAME") == ["www.example.test."]
    assert sorted(d.rdata("A")) == ["192.0.2.10", "192.0.2.11"]


# -- negative answers ------------------------------------------------------------------------------

def test_nxdomain_and_nodata_carry_coredns_shaped_soa(study):
    d = dig(study.port, fqdn("nope.study.svc"))
    assert d.status == "NXDOMAIN" and not d.answer
    soa = d.authority[0]
    assert soa[0] == "cluster.local." and soa[1] == "5" and soa[3] == "SOA"
    mname, rname, _serial, *timers = soa[4].split()
    assert (mname, rname, timers) == ("ns.dns.cluster.local.", "hostmaster.cluster.local.",
                                      ["7200", "1800", "86400", "5"])
    for name, rdtype in (("web.study.svc", "AAAA"), ("web.study.svc", "TXT"), ("study.svc", "A"),
                         ("svc", "A"), ("dns-version", "A")):
        d = dig(study.port, fqdn(name), rdtype)
        assert (d.status, d.answer, d.authority[0][3]) == ("NOERROR", [], "SOA"), (name, rdtype, d.out)
    assert dig(study.port, fqdn("web.nowhere.svc")).status == "NXDOMAIN"
    assert dig(study.port, fqdn("nowhere.svc")).status == "NXDOMAIN"


def test_names_outside_the_zone_are_refused_without_upstream(study):
    d = dig(study.port, "example.test.")
    assert d.status == "REFUSED" and "aa" not in d.flags


def test_names_outside_the_zone_are_forwarded_and_cached(manifest, lb_dns, fake_dns):
    upstream = fake_dns("127.0.0.1")
    upstream.set("git.example.test", "A", 60, "192.0.2.20")
    server = lb_dns(snapshot_of(manifest(SERVICES)), upstream=[upstream.address])
    for _ in range(3):
        d = dig(server.port, "git.example.test.", "+nocookie")
        assert d.rdata("A") == ["192.0.2.20"] and "ra" in d.flags and "aa" not in d.flags
    assert upstream.asked.count(("git.example.test.", "A")) == 1
    assert dig(server.port, "missing.example.test.").status == "NXDOMAIN"
    upstream.down.set()
    assert dig(server.port, "other.example.test.").status == "SERVFAIL"
    assert dig(server.port, "git.example.test.").rdata("A") == ["192.0.2.20"]    # still cached


def test_short_names_answer_for_the_search_namespace_only(manifest, lb_dns):
    snap = snapshot_of(manifest(SERVICES))
    server = lb_dns(snap, search_namespace="study")
    d = dig(server.port, "web.")
    assert d.rdata("CNAME") == [fqdn("web.study.svc")] and d.rdata("A") == ["127.30.0.10"]
    d = dig(server.port, "db.study.")
    assert sorted(d.rdata("A")) == ["10.244.1.5", "10.244.1.6", "10.244.1.7"]
    assert dig(server.port, fqdn("web.study.svc")).rdata("A") == ["127.30.0.10"]   # FQDNs still work
    assert dig(server.port, "nothing.").status == "REFUSED"
    plain = lb_dns(snap)
    assert dig(plain.port, "web.").status == "REFUSED"


# -- wire edge cases --------------------------------------------------------------------------------

def test_large_answer_sets_tc_over_udp_and_tcp_retry_gets_it_all(manifest, lb_dns):
    addrs = "".join(f"  - {{ip: 10.250.{i // 200}.{i % 200 + 1}}}\n" for i in range(120))
    server = lb_dns(snapshot_of(manifest(headless("big", f"addresses:\n{addrs}"))))
    name = fqdn("big.study.svc")
    r = ask(server, name)                                  # no EDNS0: 512 bytes
    assert r.flags & dns.flags.TC and not r.answer
    r = ask(server, name, use_edns=0, payload=4096)        # the client's EDNS0 size is honoured
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 120
    r = ask(server, name, tcp=True)
    assert len(r.answer[0]) == 120
    d = dig(server.port, name, "+noedns")                  # dig retries over TCP by itself
    assert "Truncated, retrying in TCP mode" in d.out and len(d.rdata("A")) == 120


def _udp_exchange(server: ThreadedDns, payload: bytes, timeout: float = 0.5) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (server.ip, server.port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def test_malformed_and_oversized_packets_get_formerr_or_nothing(study):
    assert _udp_exchange(study, b"\x12\x34\x01") is None                         # not even a header
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
    reply = _udp_exchange(study, header + b"\x07garbage")                         # question cut short
    assert reply is not None and reply[:2] == b"\xbe\xef" and reply[3] & 0x0F == dns.rcode.FORMERR
    reply = _udp_exchange(study, header + b"\xff" * 4000)                         # oversized junk
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR
    response_bit = struct.pack("!HHHHHH", 1, 0x8100, 0, 0, 0, 0)
    assert _udp_exchange(study, response_bit) is None                             # a response: dropped
    q = dns.message.make_query(fqdn("web.study.svc"), "A")
    q.question.append(q.question[0])
    assert dns.message.from_wire(_udp_exchange(study, q.to_wire())).rcode() == dns.rcode.FORMERR
    q = dns.message.make_query(fqdn("web.study.svc"), "A")
    q.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(_udp_exchange(study, q.to_wire())).rcode() == dns.rcode.NOTIMP
    q = dns.message.make_query(fqdn("web.study.svc"), "A", use_edns=1)
    assert dns.message.from_wire(_udp_exchange(study, q.to_wire())).rcode() == dns.rcode.BADVERS
    q = dns.message.make_query(fqdn("web.study.svc"), "A", rdclass="CH")
    assert dns.message.from_wire(_udp_exchange(study, q.to_wire())).rcode() == dns.rcode.REFUSED
    # after all that, it still answers
    assert ask(study, fqdn("web.study.svc")).answer[0][0].address == "127.30.0.10"
    with socket.create_connection((study.ip, study.port), timeout=3) as s:        # a TCP length with junk
        s.sendall(b"\x00\x05\x01\x02\x03\x04\x05")
        assert s.recv(2) == b"\x00\x0c" or s.recv(2) == b""


def test_answers_follow_an_update_at_once(manifest, lb_dns):
    server = lb_dns(snapshot_of(manifest(SERVICES)))
    assert ask(server, fqdn("web.study.svc")).answer[0][0].address == "127.30.0.10"
    server.update(snapshot_of(manifest(SERVICES.replace("127.30.0.10", "127.30.0.99"))))
    assert ask(server, fqdn("web.study.svc")).answer[0][0].address == "127.30.0.99"


# -- floods ---------------------------------------------------------------------------------------

def test_tcp_connections_are_limited_and_idle_ones_closed(manifest, lb_dns):
    server = lb_dns(snapshot_of(manifest(SERVICES)), max_tcp_connections=4, tcp_idle_timeout=0.5)
    held = [socket.create_connection((server.ip, server.port), timeout=3) for _ in range(6)]
    try:
        closed = 0
        for s in held:
            try:
                closed += s.recv(1) == b""          # the server closes: extra ones at once, the rest when idle
            except ConnectionResetError:
                closed += 1
        assert closed == 6
        assert server.server.counters["tcp_refused"] >= 2 and server.server.counters["tcp_timeouts"] >= 1
    finally:
        for s in held:
            s.close()
    assert ask(server, fqdn("web.study.svc"), tcp=True).answer


def test_a_flood_waiting_on_the_upstream_stays_bounded(manifest, lb_dns, fake_dns):
    upstream = fake_dns("127.0.0.1")
    upstream.down.set()                             # every forwarded question waits for its timeout
    server = lb_dns(snapshot_of(manifest(SERVICES)), upstream=[upstream.address], max_pending=8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for i in range(300):
            s.sendto(dns.message.make_query(f"n{i}.example.test.", "A").to_wire(), (server.ip, server.port))
        servfails = 0
        peak = 0
        deadline = time.monotonic() + 5
        while servfails < 300 - 8 and time.monotonic() < deadline:
            peak = max(peak, server.call(lambda: len(server.server._pending)))
            try:
                servfails += dns.message.from_wire(s.recv(4096)).rcode() == dns.rcode.SERVFAIL
            except socket.timeout:
                break
    assert peak <= 8
    assert servfails >= 300 - 8 - 64            # the rest: the upstream's own in-flight limit or its timeout
    assert ask(server, fqdn("web.study.svc")).answer          # zone answers never wait


# -- bind conflicts ------------------------------------------------------------------------------

def test_bind_conflicts_name_the_service_that_owns_the_address():
    snap = snapshot_of(f"{SEED}/kube-system")
    found = bind_conflicts(snap, [("10.96.0.10", 53)])
    assert len(found) == 2      # dns/UDP and dns-tcp/TCP
    assert all('Service "kube-system/kube-dns"' in m and "10.96.0.10:53" in m for m in found)
    assert any("/UDP" in m for m in found) and any("/TCP" in m for m in found)
    assert len(bind_conflicts(snap, [("0.0.0.0", 53)])) == 2
    assert bind_conflicts(snap, [("127.0.0.1", 10053), ("10.96.0.10", 5353), ("::", 53)]) == []
