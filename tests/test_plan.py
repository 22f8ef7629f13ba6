"""lb.plan: from a Snapshot to keyed rows, with ids that stay put across reloads."""
from __future__ import annotations

import random

from lb.config.loader import load_paths
from lb.plan import IdMaps, Planner, build_plan
from lb.snapshot.build import build_snapshot

SVC = """apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: ns}}
spec:
  type: {type}
  clusterIP: {ip}
  {affinity}
  ports:
  - {{name: http, port: 80, protocol: TCP, targetPort: 8080{node_port}}}
  - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
---
apiVersion: v1
kind: Endpoints
metadata: {{name: {name}, namespace: ns}}
subsets:
- addresses: [{addresses}]
  ports: [{{name: http, port: 8080}}, {{name: dns, port: 53, protocol: UDP}}]
"""


def service(name: str, ip: str, endpoints: list[str], node_port: int | None = None, affinity: int = 0) -> str:
    return SVC.format(name=name, ip=ip, type="NodePort" if node_port else "ClusterIP",
                      node_port=f", nodePort: {node_port}" if node_port else "",
                      affinity=(f"sessionAffinity: ClientIP\n  sessionAffinityConfig: {{clientIP: "
                                f"{{timeoutSeconds: {affinity}}}}}") if affinity else "",
                      addresses=", ".join(f"{{ip: {e}}}" for e in endpoints))


def snapshot_of(tmp_path, docs: list[str], generation: int = 1):
    path = tmp_path / f"services-{generation}.yaml"
    path.write_text("---\n".join(docs))
    snap = build_snapshot(load_paths([str(path)]), generation=generation)
    assert not snap.errors, snap.errors
    return snap


def test_rows_listeners_and_frontends_of_a_clusterip_service(tmp_path):
    snap = snapshot_of(tmp_path, [service("web", "10.97.97.97", ["10.244.0.1", "10.244.0.2"], affinity=600)])
    plan = build_plan(snap, IdMaps())
    (row,) = plan.rows.values()
    sp_id, name, scheduler, affinity, endpoints = row
    assert (name, scheduler, affinity) == ("ns/web:http/TCP", "rr", 600)
    assert [(ip, port, weight) for _ep, ip, port, weight in endpoints] == [("10.244.0.1", 8080, 1),
                                                                           ("10.244.0.2", 8080, 1)]
    assert list(plan.listeners) == [("10.97.97.97", 80, "TCP")]
    assert plan.frontends == ((plan.listeners[("10.97.97.97", 80, "TCP")], "", 80, sp_id),)
    assert plan.addresses == {"10.97.97.97": ("ns/web",)}
    assert [n.reason for n in plan.not_served] == ["UDP is not served yet"]


def test_node_port_is_one_wildcard_listener_per_family_found_by_local_address(tmp_path):
    snap = snapshot_of(tmp_path, [service("np", "10.97.97.1", ["10.244.0.1"], node_port=30080),
                                  service("rides", "10.97.97.2", ["10.244.0.2"]).replace("port: 80,", "port: 30080,")])
    plan = build_plan(snap, IdMaps())
    # an IPv4-only Service's nodePort answers on 0.0.0.0, not on [::] (kube-proxy's IPv6
    # proxier does not see it)
    assert set(plan.listeners) == {("10.97.97.1", 80, "TCP"), ("0.0.0.0", 30080, "TCP")}
    wildcard = plan.listeners[("0.0.0.0", 30080, "TCP")]
    by_local = {(lid, ip, port) for lid, ip, port, _sp in plan.frontends}
    # the nodePort answers on any address; the other Service's clusterIP on the same port
    # rides the wildcard socket and is found by its local address
    assert (wildcard, "", 30080) in by_local and (wildcard, "10.97.97.2", 30080) in by_local


def test_an_address_port_claimed_twice_is_served_once_and_reported(tmp_path):
    first = service("a", "10.97.97.5", ["10.244.0.1"])
    second = service("b", "10.97.97.6", ["10.244.0.2"]).replace("clusterIP: 10.97.97.6",
                                                                "clusterIP: 10.97.97.6\n  externalIPs: [10.97.97.5]")
    plan = build_plan(snapshot_of(tmp_path, [first, second]), IdMaps())
    assert [n.reason for n in plan.not_served if n.service == "ns/b" and "TCP" in n.frontend] == [
        "10.97.97.5:80 is already served for ns/a"]


def test_ids_stay_put_across_reloads_and_are_never_reused(tmp_path):
    """The invariant the core relies on: one key, one id, for the whole run."""
    rnd = random.Random(11)
    ids = IdMaps()
    seen: dict[tuple, int] = {}
    universe = [(f"svc{i}", f"10.97.{i}.1", [f"10.244.{i}.{j}" for j in range(1, 5)]) for i in range(12)]
    for generation in range(1, 25):
        chosen = rnd.sample(universe, rnd.randint(1, len(universe)))
        docs = [service(n, ip, rnd.sample(eps, rnd.randint(1, len(eps)))) for n, ip, eps in chosen]
        plan = build_plan(snapshot_of(tmp_path, docs, generation), ids)
        for row in plan.rows.values():
            sp_id, name = row[0], row[1]
            assert seen.setdefault(("sp", name), sp_id) == sp_id
            for ep_id, ip, port, _w in row[4]:
                assert seen.setdefault(("ep", name, ip, port), ep_id) == ep_id
        for key, lid in plan.listeners.items():
            assert seen.setdefault(("listener", key), lid) == lid
    for space in ("sp", "ep", "listener"):
        values = [v for k, v in seen.items() if k[0] == space]
        assert len(values) == len(set(values)), f"an id was given to two {space} keys"


def test_summary_counts_what_a_reload_changed(tmp_path):
    planner = Planner(IdMaps())
    planner.update(snapshot_of(tmp_path, [service("a", "10.97.0.1", ["10.244.0.1"]),
                                          service("b", "10.97.0.2", ["10.244.0.2"])], 1))
    new = planner.update(snapshot_of(tmp_path, [service("a", "10.97.0.1", ["10.244.0.1", "10.244.0.9"]),
                                                service("c", "10.97.0.3", ["10.244.0.3"])], 2))
    assert dict(new.summary) == {"virtual_servers": 2, "added": 1, "removed": 1, "changed": 1,
                                 "endpoints_added": 2, "endpoints_removed": 1,
                                 "listeners_added": 1, "listeners_removed": 1}


def test_each_family_leads_to_its_own_endpoints(tmp_path):
    """kube-proxy runs one proxier per IP family: an IPv4 frontend never leads to an IPv6
    endpoint, and a dual-stack Service is a row per family (its node port on both wildcards)."""
    dual = service("dual", "10.97.97.3", ["10.244.0.3", "fd00:244::3"], node_port=30081).replace(
        "  clusterIP: 10.97.97.3\n", "  clusterIP: 10.97.97.3\n  clusterIPs: [10.97.97.3, 'fd00:96::3']\n  ipFamilyPolicy: RequireDualStack\n")
    v4_only = service("v4", "10.97.97.4", ["10.244.0.4", "fd00:244::4"])
    snap = snapshot_of(tmp_path, [dual, v4_only])
    plan = build_plan(snap, IdMaps())
    by_vs = {(vs.ip, vs.port): [r.ip for r in vs.real_servers] for vs in plan.virtual_servers.values()}
    assert by_vs == {("10.97.97.3", 80): ["10.244.0.3"], ("fd00:96::3", 80): ["fd00:244::3"],
                     ("0.0.0.0", 30081): ["10.244.0.3"], ("::", 30081): ["fd00:244::3"],
                     ("10.97.97.4", 80): ["10.244.0.4"]}
    rows = [r for r in plan.rows.values() if r[1] == "ns/dual:http/TCP"]
    assert len(rows) == 2 and rows[0][0] != rows[1][0]
