"""Incremental reloads give what a cold start gives: after any series of edits, the Snapshot
(allocations included) and the Plan equal those built from scratch from the same files, and
what did not change comes back as the very same objects."""
from __future__ import annotations

import random

from lb.config.loader import ManifestReader, load_paths
from lb.dns.records import Zone
from lb.plan import IdMaps, Planner
from lb.settings import ManifestSettings
from lb.snapshot.build import SnapshotBuilder, build_snapshot
from lb.sources.files import ManifestFiles


def service(name: str, ns: str, *, ip: str = "", node_port: bool = False, selector: str = "",
            port: int = 80) -> str:
    lines = ["apiVersion: v1", "kind: Service", f"metadata: {{name: {name}, namespace: {ns}}}", "spec:",
             f"  type: {'NodePort' if node_port else 'ClusterIP'}"]
    if ip:
        lines.append(f"  clusterIP: {ip}")
    if selector:
        lines.append(f"  selector: {{app: {selector}}}")
    lines += ["  ports:", f"  - {{name: http, port: {port}, targetPort: 8080}}"]
    return "\n".join(lines) + "\n"


def endpoints(name: str, ns: str, ips: list[str]) -> str:
    addrs = ", ".join(f"{{ip: {ip}}}" for ip in ips)
    return (f"apiVersion: v1\nkind: Endpoints\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"subsets:\n- addresses: [{addrs}]\n  ports: [{{name: http, port: 8080}}]\n")


def pod(name: str, ns: str, ip: str, app: str) -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}\n"
            f"spec:\n  containers: [{{name: c, ports: [{{containerPort: 8080}}]}}]\n"
            f"status: {{phase: Running, podIP: {ip}}}\n")


def fingerprint(snap) -> list:
    out = []
    for view in snap.services:
        svc = view.service
        out.append((svc.key, svc.cluster_ips, tuple(p.node_port for p in svc.ports),
                    tuple((rp.port.name, tuple((e.ip, e.port, e.ready) for e in rp.endpoints)) for rp in view.ports)))
    return out + [str(d) for d in snap.diagnostics]


def plan_fingerprint(plan) -> tuple:
    return (dict(plan.rows), sorted(plan.frontends), dict(plan.listeners), dict(plan.virtual_servers),
            sorted(plan.not_served, key=repr))


def random_world(rnd: random.Random) -> dict[str, str]:
    """file name -> content: Services (some without clusterIP, some NodePort, some by selector),
    Endpoints, Pods, one big multi-document file and small ones."""
    files: dict[str, str] = {}
    big = []
    for i in range(rnd.randint(5, 25)):
        ns = rnd.choice(["a", "b"])
        name = f"s{i}"
        explicit = rnd.random() < 0.5
        ip = f"10.96.{i}.{rnd.randint(2, 250)}" if explicit else ""
        if rnd.random() < 0.3:
            text = service(name, ns, ip=ip, selector=rnd.choice(["x", "y"]), node_port=rnd.random() < 0.3)
        else:
            text = service(name, ns, ip=ip, node_port=rnd.random() < 0.3) + "---\n" + endpoints(
                name, ns, [f"10.244.{i}.{j}" for j in range(1, rnd.randint(2, 4))])
        if rnd.random() < 0.5:
            big.append(text)
        else:
            files[f"svc-{i}.yaml"] = text
    for i in range(rnd.randint(0, 8)):
        files[f"pod-{i}.yaml"] = pod(f"p{i}", rnd.choice(["a", "b"]), f"10.245.0.{i + 1}", rnd.choice(["x", "y"]))
    files["big.yaml"] = "---\n".join(big) if big else "# empty\n"
    return files


def mutate(rnd: random.Random, files: dict[str, str]) -> None:
    name = rnd.choice(sorted(files))
    text = files[name]
    choice = rnd.random()
    if choice < 0.2 and len(files) > 2:
        del files[name]
    elif choice < 0.5 and "10.244." in text:
        files[name] = text.replace("10.244.", "10.246.", 1)                 # an endpoint moves
    elif choice < 0.6 and "app: x" in text:
        files[name] = text.replace("app: x", "app: y", 1)                   # a Pod or selector flips
    elif choice < 0.7 and "---\n" in text:
        docs = text.split("---\n")
        rnd.shuffle(docs)
        files[name] = "# moved\n" + "---\n".join(docs)                      # documents move in the file
    elif choice < 0.8:
        i = rnd.randint(100, 130)
        files[f"new-{i}.yaml"] = service(f"n{i}", "a", node_port=True) + "---\n" + endpoints(
            f"n{i}", "a", [f"10.247.0.{i}"])                                # a new Service takes a port
    elif choice < 0.9 and "port: 80," in text:
        files[name] = text.replace("port: 80,", "port: 81,", 1)             # a Service changes
    else:
        files[name] = text + "---\n" + service(f"dup{rnd.randint(0, 3)}", "a")   # maybe a duplicate


def write(folder, files: dict[str, str]) -> None:
    for old in folder.glob("*.yaml"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def test_a_series_of_edits_gives_what_a_cold_start_gives(tmp_path):
    for seed in range(6):
        rnd = random.Random(seed)
        folder = tmp_path / f"world{seed}"
        folder.mkdir()
        files = random_world(rnd)
        reader, builder, ids = ManifestReader(), SnapshotBuilder(), IdMaps()
        planner = Planner(ids)
        zone = Zone("cluster.local")
        for step in range(25):
            write(folder, files)
            snap = builder.build(reader.read_paths([str(folder)]), step)
            cold = build_snapshot(load_paths([str(folder)]), generation=step)
            assert fingerprint(snap) == fingerprint(cold), (seed, step)
            plan = planner.update(snap)
            assert plan_fingerprint(plan) == plan_fingerprint(Planner(ids).update(cold)), (seed, step)
            zone.update(snap)
            assert zone.same_records(Zone("cluster.local", cold)), (seed, step)
            mutate(rnd, files)


def test_an_unchanged_service_keeps_its_objects_across_a_reload(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    docs = [service(f"s{i}", "a", ip=f"10.96.0.{i + 2}") + "---\n" + endpoints(f"s{i}", "a", [f"10.244.0.{i + 1}"])
            for i in range(50)]
    (folder / "all.yaml").write_text("---\n".join(docs))
    files = ManifestFiles(ManifestSettings(files=(str(folder),)))
    planner = Planner(IdMaps())
    first, _ = files.load(1)
    plan1 = planner.update(first)
    # s2 gets a second endpoint on a line of its own (every later document moves down a line)
    # and s6's endpoint changes address
    docs[2] = docs[2].replace("- addresses: [{ip: 10.244.0.3}]", "- addresses:\n  - {ip: 10.244.0.3}\n  - {ip: 10.244.8.3}")
    docs[6] = docs[6].replace("10.244.0.7", "10.244.9.7")
    (folder / "all.yaml").write_text("---\n".join(docs))
    second, _ = files.load(2)
    plan2 = planner.update(second)
    changed = [a.service.name for a, b in zip(first.services, second.services) if a is not b]
    assert changed == ["s2", "s6"]
    s18 = next(v for v in second.services if v.service.name == "s18")
    assert s18 in first.services                                       # the same object: moved, not rebuilt
    text = (folder / "all.yaml").read_text().splitlines()
    assert text[s18.service.source.line - 1] == "apiVersion: v1" and "name: s18," in text[s18.service.source.line + 1]
    rebuilt = {sp_id for sp_id in plan1.rows if plan1.rows[sp_id] is not plan2.rows[sp_id]}
    assert rebuilt == {plan2.virtual_servers[("TCP", f"10.96.0.{i + 2}", 80)].sp_id for i in (2, 6)}
    assert (plan2.summary["endpoints_added"], plan2.summary["endpoints_removed"]) == (2, 1)
