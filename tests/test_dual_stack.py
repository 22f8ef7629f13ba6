"""Dual-stack out of the box: with the default --service-cluster-ip-range
(10.96.0.0/12,fd00:10:96::/112) an IPv6-only and a dual-stack Service load and serve, each
IP family leading to endpoints of its own family, as kube-proxy's per-family proxiers do."""
from __future__ import annotations

import random
import subprocess

from conftest import Backends, run_curl


def endpoints_doc(name: str, ips: list[str], port: int) -> str:
    addrs = "".join(f"  - ip: {ip}\n" for ip in ips)
    return (f"apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {name}\n  namespace: study\n"
            f"subsets:\n- addresses:\n{addrs}  ports:\n  - port: {port}\n")


def service_doc(name: str, port: int, target: int, families: str, policy: str, node_port: int | None = None) -> str:
    kind = "NodePort" if node_port else "ClusterIP"
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: study\nspec:\n"
            f"  type: {kind}\n  ipFamilies: [{families}]\n  ipFamilyPolicy: {policy}\n"
            f"  ports:\n  - port: {port}\n    targetPort: {target}\n"
            + (f"    nodePort: {node_port}\n" if node_port else ""))


def test_ipv6_and_dual_stack_services_serve_with_the_default_range(netns, lb, manifest):
    ns = netns("dual")
    for ip in ("fd00:77::1", "fd00:77::2"):
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{ip}/128", "dev", "lo", "nodad"], check=True)
    port = random.randint(20000, 29999)
    v4, v6 = ["127.0.0.11", "127.0.0.12"], ["fd00:77::1", "fd00:77::2"]
    pods = Backends(v4 + v6, port, ns=ns)
    try:
        only_v6_port, dual_node_port, v4_node_port = 8080, random.randint(30000, 31000), random.randint(31001, 32000)
        text = "---\n".join([
            service_doc("only-v6", only_v6_port, port, "IPv6", "SingleStack"), endpoints_doc("only-v6", v6, port),
            service_doc("dual", 80, port, "IPv4, IPv6", "RequireDualStack", dual_node_port),
            endpoints_doc("dual", v4 + v6, port),
            service_doc("only-v4", 81, port, "IPv4", "SingleStack", v4_node_port), endpoints_doc("only-v4", v4 + v6, port),
        ])
        proc = lb([manifest(text)], ns=ns).wait_ready()     # no --service-cluster-ip-range: the default
        served = {}
        for vs in proc.status()["virtual_servers"]:
            served.setdefault(vs["service"], []).append((vs["address"], vs["port"],
                                                         sorted(r["address"] for r in vs["real_servers"])))
        (only_v6,) = served["study/only-v6"]
        assert only_v6[0].startswith("fd00:10:96::") and only_v6[2] == sorted(v6)
        dual = {addr: reals for addr, _port, reals in served["study/dual"]}
        v4_vip = next(a for a in dual if a.startswith("10."))
        v6_vip = next(a for a in dual if a.startswith("fd00:10:96::"))
        assert dual[v4_vip] == sorted(v4) and dual[v6_vip] == sorted(v6)
        assert dual["0.0.0.0"] == sorted(v4) and dual["::"] == sorted(v6)
        assert [addr for addr, _port, _reals in served["study/only-v4"] if addr in ("0.0.0.0", "::")] == ["0.0.0.0"]

        def answers(url: str, n: int = 4) -> set[str]:
            return {run_curl(url, ns=ns).split()[1] for _ in range(n)}
        assert answers(f"http://[{only_v6[0]}]:{only_v6_port}/") == set(v6)
        assert answers(f"http://{v4_vip}:80/") == set(v4)
        assert answers(f"http://[{v6_vip}]:80/") == set(v6)
        assert answers(f"http://[::1]:{dual_node_port}/") == set(v6)
        assert answers(f"http://127.0.0.1:{dual_node_port}/") == set(v4)
        # the IPv4-only Service's node port does not answer on IPv6
        refused = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "3",
                                  f"http://[::1]:{v4_node_port}/"], capture_output=True, text=True)
        assert refused.returncode == 7, refused     # couldn't connect
        assert answers(f"http://127.0.0.1:{v4_node_port}/") == set(v4)
        assert proc.terminate() == 0
    finally:
        pods.stop()
