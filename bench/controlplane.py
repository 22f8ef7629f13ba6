"""The control plane at scale: lb with 1,000 .. 50,000 ClusterIP Services in a network
namespace, against kube-proxy's rulesets for the same folder (iptables-restore, nft -f).

    sudo .venv/bin/python bench/controlplane.py --services 1000,10000,50000 [--changes 30]
    sudo .venv/bin/python bench/controlplane.py --lb /work/baseline/.venv/bin/python   # another build

For each size it writes one folder (one file, each Service with two endpoints), starts
`lb run` in a namespace of its own and measures: start to serving the first and the last
Service (a real connection to each), listening sockets, RSS, one endpoint change from the
file's rename to the new table (the admin endpoint's generation, polled) as p50/p99 over
--changes changes, SIGTERM to exit; then `lb validate` and `lb render --mode iptables`
wall times, and iptables-restore / nft -f of the rendered rules in a fresh namespace.
Every wait is bounded; namespaces and processes are removed on every exit path.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

NS = f"lbcp-{os.getpid()}"
BACKEND_PORT = 8080
SERVICE_PORT = 80


def services(n: int, moved: int | None = None, to: str = "127.0.0.3") -> str:
    docs = []
    for i in range(n):
        second = to if i == moved else "127.0.0.2"
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: scale}}\n"
                    f"spec:\n  clusterIP: {vip(i)}\n"
                    f"  ports: [{{name: http, port: {SERVICE_PORT}, targetPort: {BACKEND_PORT}}}]\n---\n"
                    f"apiVersion: v1\nkind: Endpoints\nmetadata: {{name: s{i}, namespace: scale}}\n"
                    f"subsets: [{{addresses: [{{ip: 127.0.0.1}}, {{ip: {second}}}], "
                    f"ports: [{{name: http, port: {BACKEND_PORT}}}]}}]\n")
    return "---\n".join(docs)


def vip(i: int) -> str:
    return f"10.{96 + i // 65000}.{(i % 65000) // 250}.{i % 250 + 2}"


def write_atomically(path: str, text: str) -> None:
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def wait(predicate, timeout: float, what: str, interval: float = 0.002):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout} s")


def connects(ip: str, port: int) -> bool:
    """One TCP connection through lb that a backend answers (this process is in the namespace)."""
    try:
        with socket.create_connection((ip, port), timeout=2) as s:
            return s.recv(64).startswith(b"backend")
    except OSError:
        return False


class InNamespace:
    """This process inside NS (created here, deleted on exit), and back out afterwards."""

    def __enter__(self):
        from pyroute2 import netns
        sh("ip", "netns", "add", NS)
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        netns.setns(NS)
        sh("ip", "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc):
        from pyroute2 import netns
        netns.setns(self.home)
        os.close(self.home)
        sh("ip", "netns", "del", NS)


BACKEND = """
import socket, selectors, sys
sel = selectors.DefaultSelector()
for ip in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, %d)); s.listen(1024); s.setblocking(False); sel.register(s, selectors.EVENT_READ, ip)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
            c.sendall(("backend " + key.data + "\\n").encode()); c.close()
        except OSError:
            pass
""" % BACKEND_PORT


def admin(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return json.loads(r.read())


def run_size(n: int, python: str, changes: int, workdir: str) -> dict:
    out: dict = {"services": n}
    folder = os.path.join(workdir, f"s{n}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "services.yaml")
    write_atomically(path, services(n))
    with InNamespace():
        out.update(_serve(n, folder, path, python, changes, workdir))
    out.update(_offline(n, folder, python))
    return out


def _serve(n: int, folder: str, path: str, python: str, changes: int, workdir: str) -> dict:
    out: dict = {}
    backend = subprocess.Popen([sys.executable, "-c", BACKEND, "127.0.0.1", "127.0.0.2", "127.0.0.3",
                                "127.0.0.4"], stdout=subprocess.PIPE, text=True)
    lb = None
    try:
        assert backend.stdout.readline().strip() == "ready"
        port = 20000 + os.getpid() % 20000
        log = open(os.path.join(workdir, f"lb-{n}.log"), "w")
        began = time.monotonic()
        lb = subprocess.Popen([python, "-m", "lb", "run", "-f", folder, "--workers", "2",
                               "--drain-timeout", "2", "--service-cluster-ip-range", "10.96.0.0/12",
                               "--metrics-bind-address", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait(lambda: connects(vip(0), SERVICE_PORT) and connects(vip(n - 1), SERVICE_PORT), 600,
                 "serving the first and the last Service", interval=0.05)
            out["start_to_serving_s"] = round(time.monotonic() - began, 2)
        except TimeoutError as e:
            out["start_to_serving_s"] = f"timeout ({e})"
            return out
        out["listening_sockets"] = len(sh("ss", "-Hltn").stdout.splitlines()) - 1     # the backend's
        out["descriptors"] = len(os.listdir(f"/proc/{lb.pid}/fd"))
        out["rss_mb"] = round(_rss_kb(lb.pid) / 1024, 1)
        out["change_ms"] = _changes(path, n, port, changes)
        log.flush()
        spent = [int(line.split("duration_ms=")[1].split()[0]) for line in open(log.name)
                 if "event=reload trigger=watch " in line]
        out["reload_processing_ms_p50"] = statistics.median(spent) if spent else None
        stopped = time.monotonic()
        lb.send_signal(signal.SIGTERM)
        lb.wait(120)
        out["sigterm_to_exit_s"] = round(time.monotonic() - stopped, 2)
        lb = None
    finally:
        for p in (lb, backend):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
    return out


def _changes(path: str, n: int, port: int, count: int) -> dict:
    """File rename to the core's new generation, `count` times (the moved endpoint alternates)."""
    times = []
    for k in range(count):
        generation = admin(port)["generation"]
        text = services(n, moved=n // 2, to="127.0.0.3" if k % 2 == 0 else "127.0.0.4")
        began = time.monotonic()
        write_atomically(path, text)
        wait(lambda: admin(port)["generation"] > generation, 60, "the change to be applied", interval=0.001)
        times.append((time.monotonic() - began) * 1000)
    times.sort()
    return {"p50": round(statistics.median(times), 1), "p99": round(times[min(len(times) - 1,
                                                                          int(len(times) * 0.99))], 1),
            "max": round(times[-1], 1), "n": count}


def _offline(n: int, folder: str, python: str) -> dict:
    out = {}
    began = time.monotonic()
    sh(python, "-m", "lb", "validate", "-f", folder)
    out["validate_s"] = round(time.monotonic() - began, 2)
    rules = {}
    for mode in ("iptables", "nftables"):
        began = time.monotonic()
        done = sh(python, "-m", "lb", "render", "--mode", mode, "-f", folder, "--service-cluster-ip-range",
                  "10.96.0.0/12")
        out[f"render_{mode}_s"] = round(time.monotonic() - began, 2)
        rules[mode] = done.stdout
    with InNamespace():
        for mode, tool in (("iptables", ["iptables-restore"]), ("nftables", ["nft", "-f", "-"])):
            began = time.monotonic()
            done = subprocess.run(tool, input=rules[mode], capture_output=True, text=True)
            out[f"{tool[0]}_s"] = round(time.monotonic() - began, 2) if done.returncode == 0 else \
                f"failed: {done.stderr.strip()[:120]}"
    return out


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", default="1000,10000", help="comma-separated sizes (default %(default)s)")
    p.add_argument("--changes", type=int, default=30, help="endpoint changes timed per size")
    p.add_argument("--lb", default=sys.executable, help="the python that runs lb (another build's venv)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench/controlplane.py: run as root (network namespaces)", file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="lbcp-") as workdir:
        for n in (int(x) for x in args.services.split(",")):
            result = run_size(n, args.lb, args.changes, workdir)
            print(json.dumps(result), flush=True)
            results.append(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
