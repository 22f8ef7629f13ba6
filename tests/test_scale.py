"""10,000 Services in one network namespace: lb serves the first and the last, applies a
one-endpoint change, keeps listeners per port (not per VIP), and exits within the drain.
Timings are the benchmark's (bench/controlplane.py), not asserted here."""
from __future__ import annotations

import subprocess

from conftest import wait_for

SERVICES = 10_000
PORT = 80


def service_docs(n: int, backend_port: int, moved: int | None = None) -> str:
    """n ClusterIP Services in 10.96.0.0/12 with two endpoints each (127.0.0.1 and .2 in the
    namespace); Service `moved`'s second endpoint is 127.0.0.3 instead."""
    docs = []
    for i in range(n):
        second = "127.0.0.3" if i == moved else "127.0.0.2"
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: scale}}\n"
                    f"spec:\n  clusterIP: 10.96.{i // 250}.{i % 250 + 2}\n"
                    f"  ports: [{{name: http, port: {PORT}, targetPort: {backend_port}}}]\n---\n"
                    f"apiVersion: v1\nkind: Endpoints\nmetadata: {{name: s{i}, namespace: scale}}\n"
                    f"subsets: [{{addresses: [{{ip: 127.0.0.1}}, {{ip: {second}}}], "
                    f"ports: [{{name: http, port: {backend_port}}}]}}]\n")
    return "---\n".join(docs)


def vip(i: int) -> str:
    return f"10.96.{i // 250}.{i % 250 + 2}"


def test_ten_thousand_services_serve_reload_one_endpoint_and_exit(netns, backends, lb, manifest, curl):
    ns = netns("scale")
    b = backends(3, ns=ns, net="127.0.0")
    path = manifest(service_docs(SERVICES, b.port))
    proc = lb([path], extra=["--service-cluster-ip-range", "10.96.0.0/12"], ns=ns).wait_ready(timeout=60)
    for i in (0, SERVICES - 1):
        assert curl(f"http://{vip(i)}:{PORT}/", ns=ns) in (b.answer(0), b.answer(1))
    sockets = subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hltn"], capture_output=True, text=True).stdout
    on_80 = [line for line in sockets.splitlines() if line.split()[3].endswith(f":{PORT}")]
    assert len(on_80) <= 2, f"listeners grow with ports, not VIPs: {on_80}"   # one per worker at most

    manifest(service_docs(SERVICES, b.port, moved=SERVICES // 2))
    target = vip(SERVICES // 2)
    wait_for(lambda: b.answer(2) in {curl(f"http://{target}:{PORT}/", ns=ns) for _ in range(4)}, 20,
             "the moved endpoint to get traffic")
    assert "endpoints_added=1 endpoints_removed=1" in proc.log
    assert proc.terminate(timeout=30) == 0
    assert "event=routes_removed count=1" in proc.log
