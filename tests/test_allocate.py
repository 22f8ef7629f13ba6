"""clusterIP and nodePort allocation: deterministic, collision-free, API-server errors."""
from __future__ import annotations

import ipaddress

import pytest

from lb.config.allocate import (
    allocate, parse_cluster_ip_range, parse_node_port_range, range_offset,
)
from lb.config.model import Service, ServicePort, Source
from lb.settings import DEFAULT_CLUSTER_IP_RANGE

DEFAULT_NETS = parse_cluster_ip_range("10.96.0.0/12")
DEFAULT_PORTS = parse_node_port_range("30000-32767")


def svc(name, ns="study", type="ClusterIP", cluster_ip="", ports=((80, None),), path="a.yaml", doc=0,
        families=(), policy=None, manifest=None, lb_node_ports=True):
    sps = tuple(ServicePort(name=(f"p{i}" if len(ports) > 1 else ""), protocol=(p[2] if len(p) > 2 else "TCP"),
                            port=p[0], target_port=p[0], node_port=p[1]) for i, p in enumerate(ports))
    ips = (cluster_ip,) if cluster_ip and cluster_ip != "None" else (("None",) if cluster_ip == "None" else ())
    return Service(namespace=ns, name=name, type=type, ports=sps, selector={"app": name},
                   cluster_ip=cluster_ip, cluster_ips=ips, ip_families=families, ip_family_policy=policy,
                   source=Source.at(path, 1 + doc * 10, doc), manifest=manifest,
                   allocate_load_balancer_node_ports=lb_node_ports)


def run(services, nets=DEFAULT_NETS, ports=DEFAULT_PORTS):
    result = allocate(services, nets, ports)
    return {s.key: s for s in result.services}, [str(d) for d in result.diagnostics]


# --- parsing -----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("30000-32767", (30000, 32767)),
    ("30000+10", (30000, 30010)),
    ("31000", (31000, 31000)),
])
def test_node_port_range_forms(text, expected):
    r = parse_node_port_range(text)
    assert (r.start, r.stop - 1) == expected


@pytest.mark.parametrize("text", ["", "abc", "32767-30000", "0-10", "30000-70000", "1-2-3"])
def test_node_port_range_rejects_with_one_line_message(text):
    with pytest.raises(ValueError) as exc:
        parse_node_port_range(text)
    assert "\n" not in str(exc.value) and "invalid port range" in str(exc.value)


@pytest.mark.parametrize("text", ["10.96.0.1/12", "nonsense", "10.96.0.0/12,10.0.0.0/16", "10.0.0.0/31", ""])
def test_cluster_ip_range_rejects(text):
    with pytest.raises(ValueError):
        parse_cluster_ip_range(text)


def test_dual_stack_cluster_ip_range():
    nets = parse_cluster_ip_range("10.96.0.0/12,fd00:10:96::/112")
    assert [n.version for n in nets] == [4, 6]


def test_range_offset_matches_api_server():
    assert range_offset(2768) == 86
    assert range_offset(100) == 16
    assert range_offset(10000) == 128


# --- clusterIP ---------------------------------------------------------------------

def test_cluster_ip_allocated_in_range_skipping_network_and_first_address():
    nets = parse_cluster_ip_range("10.0.0.0/29")   # .2 .. .6 usable
    services = [svc(f"s{i}") for i in range(5)]
    got, diags = run(services, nets=nets)
    assert diags == []
    ips = sorted(s.cluster_ip for s in got.values())
    assert ips == [f"10.0.0.{i}" for i in range(2, 7)]
    assert all(s.ip_families == ("IPv4",) and s.ip_family_policy == "SingleStack" for s in got.values())


def test_cluster_ip_range_full_drops_the_service():
    nets = parse_cluster_ip_range("10.0.0.0/29")
    got, diags = run([svc(f"s{i}") for i in range(6)], nets=nets)
    assert len(got) == 5
    assert len(diags) == 1 and "range is full" in diags[0] and 'Service "study/' in diags[0]


def test_cluster_ip_is_stable_across_runs_and_unrelated_additions():
    base = [svc("web"), svc("api"), svc("db", ns="other")]
    first, _ = run(base)
    again, _ = run(list(reversed(base)))
    more, _ = run(base + [svc(f"extra{i}") for i in range(20)])
    for key in first:
        assert first[key].cluster_ip == again[key].cluster_ip == more[key].cluster_ip
        assert ipaddress.ip_address(first[key].cluster_ip) in DEFAULT_NETS[0]


def test_allocation_never_takes_an_explicit_ip():
    nets = parse_cluster_ip_range("10.0.0.0/29")
    explicit = [svc("fixed2", cluster_ip="10.0.0.2"), svc("fixed3", cluster_ip="10.0.0.3"),
                svc("fixed4", cluster_ip="10.0.0.4"), svc("fixed5", cluster_ip="10.0.0.5")]
    got, diags = run(explicit + [svc("auto")], nets=nets)
    assert diags == []
    assert got["study/auto"].cluster_ip == "10.0.0.6"


def test_duplicate_explicit_cluster_ip_reports_the_later_document():
    got, diags = run([svc("b", cluster_ip="10.97.97.97", path="b.yaml"),
                      svc("a", cluster_ip="10.97.97.97", path="a.yaml")])
    assert list(got) == ["study/a"]
    assert diags == ['b.yaml:1: Service "study/b" is invalid: spec.clusterIPs[0]: Invalid value: "10.97.97.97": '
                     'failed to allocate IP 10.97.97.97: provided IP is already allocated']


def test_headless_and_external_name_get_no_ip():
    got, diags = run([svc("h", cluster_ip="None"), svc("x", type="ExternalName", ports=())])
    assert diags == []
    assert got["study/h"].cluster_ip == "None" and got["study/h"].ip_families == ("IPv4",)
    assert got["study/x"].cluster_ip == "" and got["study/x"].cluster_ips == ()


def test_dual_stack_policy_gets_one_ip_per_family():
    nets = parse_cluster_ip_range("10.96.0.0/12,fd00:10:96::/112")
    got, diags = run([svc("dual", policy="PreferDualStack"), svc("single")], nets=nets)
    assert diags == []
    dual = got["study/dual"]
    assert dual.ip_families == ("IPv4", "IPv6") and len(dual.cluster_ips) == 2
    assert ipaddress.ip_address(dual.cluster_ips[1]) in nets[1]
    assert got["study/single"].ip_families == ("IPv4",)


def test_prefer_dual_stack_on_single_stack_range_takes_what_is_configured():
    got, diags = run([svc("dual", policy="PreferDualStack", families=("IPv4", "IPv6"))])
    assert diags == []
    assert got["study/dual"].ip_families == ("IPv4",) and len(got["study/dual"].cluster_ips) == 1


def test_single_stack_ipv6_without_an_ipv6_range_is_invalid():
    got, diags = run([svc("v6", policy="SingleStack", families=("IPv6",))])
    assert got == {} and diags == [
        'a.yaml:1: Service "study/v6" is invalid: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this '
        'cluster (lb: --service-cluster-ip-range 10.96.0.0/12 has no IPv6 range; give one CIDR of each family, '
        'e.g. --service-cluster-ip-range "10.96.0.0/12,fd00:10:96::/112", the default)']


def test_the_default_range_serves_ipv6_and_dual_stack_out_of_the_box():
    nets = parse_cluster_ip_range(DEFAULT_CLUSTER_IP_RANGE)
    got, diags = run([svc("v6", policy="SingleStack", families=("IPv6",)), svc("dual", policy="RequireDualStack"),
                      svc("plain")], nets)
    assert diags == []
    assert got["study/v6"].ip_families == ("IPv6",) and got["study/v6"].cluster_ip.startswith("fd00:10:96::")
    assert got["study/dual"].ip_families == ("IPv4", "IPv6") and len(got["study/dual"].cluster_ips) == 2
    assert got["study/plain"].ip_families == ("IPv4",) and len(got["study/plain"].cluster_ips) == 1
    again, _ = run([svc("plain"), svc("dual", policy="RequireDualStack"), svc("v6", policy="SingleStack",
                                                                                families=("IPv6",))], nets)
    assert {k: v.cluster_ips for k, v in again.items()} == {k: v.cluster_ips for k, v in got.items()}


def test_require_dual_stack_on_single_stack_range_is_invalid():
    got, diags = run([svc("dual", policy="RequireDualStack")])
    assert got == {}
    assert "spec.ipFamilyPolicy" in diags[0] and "not configured for dual-stack" in diags[0]


def test_allocation_is_written_into_the_manifest():
    manifest = {"apiVersion": "v1", "kind": "Service", "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    got, _ = run([svc("np", type="NodePort", manifest=manifest)])
    spec = got["study/np"].manifest["spec"]
    assert spec["clusterIP"] == got["study/np"].cluster_ip and spec["ports"][0]["nodePort"] >= 30086
    assert "clusterIP" not in manifest["spec"]   # the input is not mutated


# --- nodePort ----------------------------------------------------------------------

def test_node_port_out_of_range():
    got, diags = run([svc("np", type="NodePort", ports=((80, 40000),))])
    assert got == {}
    assert diags == ['a.yaml:1: Service "study/np" is invalid: spec.ports[0].nodePort: Invalid value: 40000: '
                     'provided port is not in the valid range. The range of valid ports is 30000-32767']


def test_node_port_already_allocated_across_files():
    got, diags = run([svc("first", type="NodePort", ports=((80, 30002),), path="a.yaml"),
                      svc("second", type="NodePort", ports=((80, 30003), (81, 30002)), path="b.yaml")])
    assert list(got) == ["study/first"]
    assert diags == ['b.yaml:1: Service "study/second" is invalid: spec.ports[1].nodePort: Invalid value: 30002: '
                     'provided port is already allocated']


def test_same_service_tcp_and_udp_share_a_node_port():
    dns = svc("dns", type="NodePort", ports=((53, 30053, "UDP"), (53, 30053, "TCP")))
    got, diags = run([dns])
    assert diags == [] and [p.node_port for p in got["study/dns"].ports] == [30053, 30053]
    auto, diags = run([svc("dns", type="NodePort", ports=((53, None, "UDP"), (53, None, "TCP")))])
    ports = auto["study/dns"].ports
    assert diags == [] and ports[0].node_port == ports[1].node_port


def test_empty_node_ports_prefer_the_band_above_the_static_band():
    services = [svc(f"np{i}", type="NodePort", ports=((80, None), (443, None))) for i in range(30)]
    got, diags = run(services)
    assert diags == []
    ports = [p.node_port for s in got.values() for p in s.ports]
    assert len(set(ports)) == 60 and all(30086 <= p <= 32767 for p in ports)


def test_node_ports_fall_back_to_the_static_band_then_range_is_full():
    ports = parse_node_port_range("30000-30019")   # offset 16: upper band 30016-30019
    services = [svc(f"np{i:02}", type="NodePort") for i in range(21)]
    got, diags = run(services, ports=ports)
    assert len(got) == 20
    assert {s.ports[0].node_port for s in got.values()} == set(range(30000, 30020))
    assert len(diags) == 1 and "spec.ports[0].nodePort: Internal error: failed to allocate a nodePort: range is full" in diags[0]


def test_auto_node_ports_avoid_explicit_ones_and_stay_put():
    explicit = svc("fixed", type="NodePort", ports=((80, 30002),))
    base, _ = run([explicit, svc("auto", type="NodePort")])
    grown, _ = run([explicit, svc("auto", type="NodePort")] + [svc(f"x{i}", type="NodePort") for i in range(10)])
    assert base["study/auto"].ports[0].node_port == grown["study/auto"].ports[0].node_port != 30002
    assert base["study/fixed"].ports[0].node_port == 30002


def test_cluster_ip_service_gets_no_node_port_and_load_balancer_does():
    got, _ = run([svc("c"), svc("lb", type="LoadBalancer"), svc("lb-off", type="LoadBalancer", lb_node_ports=False)])
    assert got["study/c"].ports[0].node_port is None
    assert got["study/lb"].ports[0].node_port >= 30086
    assert got["study/lb-off"].ports[0].node_port is None
