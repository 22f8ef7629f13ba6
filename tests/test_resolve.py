"""Endpoint resolution: files' Endpoints/EndpointSlices, or Pods through the selector."""
from __future__ import annotations

from lb.config.model import (
    ContainerPort, Endpoint, EndpointPort, EndpointSet, Pod, Service, ServicePort,
)
from lb.snapshot.controllers import endpoint_sets_from_pods
from lb.snapshot.resolve import resolve, resolve_service


def svc(name="web", ports=(("", 80, 80),), selector=None, publish=False, type="ClusterIP",
        cluster_ip="10.97.97.97", families=("IPv4",)):
    sps = tuple(ServicePort(name=n, protocol=(proto[0] if proto else "TCP"), port=p, target_port=t, node_port=None)
                for n, p, t, *proto in ports)
    return Service(namespace="study", name=name, type=type, ports=sps, selector=selector,
                   cluster_ip=cluster_ip, cluster_ips=(cluster_ip,) if cluster_ip not in ("", "None") else (),
                   ip_families=families, ip_family_policy="SingleStack", publish_not_ready_addresses=publish)


def pod(name, ip, ready=True, labels=None, terminating=False, ports=(), phase="Running", ips=None):
    return Pod(namespace="study", name=name, labels=labels or {"app": "web"},
               ips=ips if ips is not None else ((ip,) if ip else ()), ready=ready,
               terminating=terminating, phase=phase, node_name="node1",
               container_ports=tuple(ContainerPort(n, p, proto) for n, p, proto in ports))


def eset(addrs, ports=(("", 80),), kind="EndpointSlice", name="web-abc", service="web"):
    return EndpointSet(namespace="study", service_name=service, kind=kind, name=name, address_type="IPv4",
                       addresses=tuple(a if isinstance(a, Endpoint) else Endpoint(a) for a in addrs),
                       ports=tuple(EndpointPort(n, p, proto[0] if proto else "TCP") for n, p, *proto in ports))


def addresses(rp):
    return [ep.address for ep in rp]


def view_of(services, sets=(), pods=()):
    views, generated = resolve(services, sets, pods)
    return {v.service.name: v for v in views}, generated


def test_selector_picks_ready_pods_with_ips_sorted_by_address():
    pods = [pod("c", "10.244.166.191"), pod("a", "10.244.104.10"), pod("b", "10.244.166.129"),
            pod("other", "10.244.1.1", labels={"app": "db"}), pod("pending", None)]
    views, generated = view_of([svc(selector={"app": "web"})], pods=pods)
    rp = views["web"].ports[0]
    assert addresses(rp.endpoints) == ["10.244.104.10:80", "10.244.166.129:80", "10.244.166.191:80"]
    assert rp.usable == rp.endpoints
    assert len(generated) == 1 and generated[0].kind == "EndpointSlice"
    assert generated[0].name.startswith("web-") and len(generated[0].name) == len("web-") + 5


def test_not_ready_pods_are_endpoints_but_not_usable():
    views, _ = view_of([svc(selector={"app": "web"})], pods=[pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)])
    rp = views["web"].ports[0]
    assert addresses(rp.endpoints) == ["10.0.0.1:80", "10.0.0.2:80"]
    assert addresses(rp.usable) == ["10.0.0.1:80"]


def test_publish_not_ready_addresses_makes_every_endpoint_ready():
    views, _ = view_of([svc(selector={"app": "web"}, publish=True)], pods=[pod("b", "10.0.0.2", ready=False)])
    assert addresses(views["web"].ports[0].usable) == ["10.0.0.2:80"]
    sets = [eset([Endpoint("10.0.0.9", ready=False)])]
    views, _ = view_of([svc(publish=True)], sets=sets)
    assert addresses(views["web"].ports[0].usable) == ["10.0.0.9:80"]


def test_terminating_serving_endpoints_are_the_fallback_only_when_none_is_ready():
    pods = [pod("old", "10.0.0.1", terminating=True), pod("gone", "10.0.0.3", terminating=True, ready=False)]
    views, _ = view_of([svc(selector={"app": "web"})], pods=pods)
    rp = views["web"].ports[0]
    assert [(ep.ip, ep.ready, ep.serving, ep.terminating) for ep in rp.endpoints] == [
        ("10.0.0.1", False, True, True), ("10.0.0.3", False, False, True)]
    assert addresses(rp.usable) == ["10.0.0.1:80"]
    views, _ = view_of([svc(selector={"app": "web"})], pods=pods + [pod("new", "10.0.0.2")])
    assert addresses(views["web"].ports[0].usable) == ["10.0.0.2:80"]


def test_named_target_port_resolves_per_pod_by_name_and_protocol():
    service = svc(selector={"app": "web"}, ports=(("http", 80, "web"), ("dns", 53, "dns", "UDP")))
    pods = [pod("a", "10.0.0.1", ports=(("web", 8080, "TCP"), ("dns", 5353, "UDP"))),
            pod("b", "10.0.0.2", ports=(("web", 9090, "TCP"), ("dns", 5353, "TCP"))),   # dns is TCP: no UDP port
            pod("c", "10.0.0.3", ports=(("other", 1, "TCP"),))]                         # resolves nothing
    views, generated = view_of([service], pods=pods)
    http, dns = views["web"].ports
    assert addresses(http.endpoints) == ["10.0.0.1:8080", "10.0.0.2:9090"]
    assert addresses(dns.endpoints) == ["10.0.0.1:5353"]
    assert len(generated) == 2   # the two pods resolve to different port sets: two slices


def test_numeric_target_port_is_used_as_is_and_terminal_pods_are_skipped():
    service = svc(selector={"app": "web"}, ports=(("", 80, 8080),))
    views, _ = view_of([service], pods=[pod("a", "10.0.0.1"), pod("done", "10.0.0.2", phase="Succeeded")])
    assert addresses(views["web"].ports[0].endpoints) == ["10.0.0.1:8080"]


def test_dual_stack_pod_ips_follow_the_service_families():
    p = pod("a", None, ips=("10.0.0.1", "fd00::1"))
    v4 = endpoint_sets_from_pods(svc(selector={"app": "web"}), [p])
    both = endpoint_sets_from_pods(svc(selector={"app": "web"}, families=("IPv4", "IPv6")), [p])
    assert [es.address_type for es in v4] == ["IPv4"]
    assert [es.address_type for es in both] == ["IPv4", "IPv6"]
    view = resolve_service(svc(families=("IPv4", "IPv6")), both)
    assert addresses(view.ports[0].endpoints) == ["10.0.0.1:80", "[fd00::1]:80"]


def test_slices_are_merged_and_deduplicated_by_ip_and_port():
    sets = [eset([Endpoint("10.0.0.2", ready=False), "10.0.0.10"], name="web-1"),
            eset(["10.0.0.2", "10.0.0.1"], name="web-2"),
            eset(["10.0.0.1"], ports=(("", 81),), name="web-3")]
    views, generated = view_of([svc(selector={"app": "web"})], sets=sets, pods=[pod("x", "10.9.9.9")])
    rp = views["web"].ports[0]
    assert addresses(rp.endpoints) == ["10.0.0.1:80", "10.0.0.1:81", "10.0.0.2:80", "10.0.0.10:80"]
    assert all(ep.ready for ep in rp.endpoints)   # the ready copy of 10.0.0.2:80 wins
    assert generated == ()                        # files' endpoints win over pods


def test_endpoints_are_matched_to_service_ports_by_name_and_protocol():
    service = svc(ports=(("dns", 53, 53, "UDP"), ("dns-tcp", 53, 53, "TCP"), ("metrics", 9153, 9153)))
    sets = [eset(["10.244.219.65", "10.244.219.69"], kind="Endpoints", name="web",
                 ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP"), ("dns", 54, "TCP")))]
    dns, dns_tcp, metrics = view_of([service], sets=sets)[0]["web"].ports
    assert addresses(dns.endpoints) == ["10.244.219.65:53", "10.244.219.69:53"]
    assert addresses(dns_tcp.endpoints) == ["10.244.219.65:53", "10.244.219.69:53"]
    assert addresses(metrics.endpoints) == ["10.244.219.65:9153", "10.244.219.69:9153"]


def test_unnamed_service_port_does_not_take_named_endpoint_ports():
    views, _ = view_of([svc()], sets=[eset(["10.0.0.1"], ports=(("http", 80),))])
    assert views["web"].ports[0].endpoints == ()


def test_headless_gets_endpoints_and_external_name_gets_none_from_pods():
    services = [svc("headless", selector={"app": "web"}, cluster_ip="None"),
                svc("alias", selector={"app": "web"}, type="ExternalName", cluster_ip="", families=())]
    views, generated = view_of(services, pods=[pod("a", "10.0.0.1")])
    assert addresses(views["headless"].ports[0].endpoints) == ["10.0.0.1:80"]
    assert views["alias"].ports[0].endpoints == ()
    assert {es.service_name for es in generated} == {"headless"}


def test_selectorless_service_without_endpoints_has_none():
    views, generated = view_of([svc()], pods=[pod("a", "10.0.0.1")])
    assert views["web"].ports[0].endpoints == () and generated == ()


def test_generated_names_are_stable():
    a = endpoint_sets_from_pods(svc(selector={"app": "web"}), [pod("a", "10.0.0.1")])
    b = endpoint_sets_from_pods(svc(selector={"app": "web"}), [pod("b", "10.0.0.2")])
    assert a[0].name == b[0].name
