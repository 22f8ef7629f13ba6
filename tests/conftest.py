"""Shared fixtures: HTTP backends, lb as a subprocess, network namespaces, curl.

Everything a fixture starts it stops (by PID) and everything it creates it deletes,
even when the test fails. In the host namespace traffic only goes to 127.0.0.0/8;
any other address lives in a namespace a fixture made (lbtest-<purpose>-<pid>).
Waits poll for an event with a deadline; nothing sleeps blindly.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PYTHON = sys.executable
STARTUP_TIMEOUT = 10.0


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll predicate until it returns a truthy value; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def netns_prefix(ns: str | None) -> list[str]:
    return ["ip", "netns", "exec", ns] if ns else []


def free_port(ip: str = "127.0.0.1", low: int | None = None, high: int | None = None) -> int:
    """A TCP port free on ip now: the kernel's pick, or a random one in [low, high]."""
    for _ in range(200):
        port = random.randint(low, high) if low else 0
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port on {ip}")


def random_loopback_net() -> str:
    """127.X.Y: a /24 inside 127/8 unlikely to collide with another test run."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"


class Backends:
    """Tiny HTTP servers (lb.demo's pods) in a subprocess, one per address, all on one
    port. Each answers `IP: <ip> pod-<n> node1`; /hold/N answers after N seconds."""

    def __init__(self, ips: list[str], port: int, ns: str | None = None):
        self.ips, self.port, self.ns = ips, port, ns
        specs = [f"{ip}:{port}:pod-{i + 1}:node1" for i, ip in enumerate(ips)]
        self.proc = subprocess.Popen(
            netns_prefix(ns) + [PYTHON, "-c", "import sys; from lb.demo import backend_main; sys.exit(backend_main())",
                                *specs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"backends did not start: {line} {self.proc.stderr.read()}")

    def answer(self, i: int) -> str:
        return f"IP: {self.ips[i]} pod-{i + 1} node1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


class Lb:
    """`python -m lb run ...` as a subprocess; stderr (the event log) goes to a file."""

    def __init__(self, tmp: Path, files: list[Path], extra: list[str] = (), ns: str | None = None,
                 metrics_port: int | None = None, wrap: list[str] = (), stdin: str | None = None):
        self.ns = ns
        self.metrics_port = metrics_port or free_port()
        self.log_path = tmp / f"lb-{self.metrics_port}.log"
        argv = [PYTHON, "-m", "lb", "run", "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
                "--workers", "2", "--drain-timeout", "3"]
        for f in files:
            argv += ["-f", str(f)]
        argv += list(extra)
        if ns is None and "--service-cluster-ip-range" not in extra:
            # Allocated clusterIPs stay on loopback in the host namespace (no lb0 here).
            argv += ["--service-cluster-ip-range", "127.20.0.0/16"]
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(netns_prefix(ns) + list(wrap) + argv, stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, stdin=None if stdin is None else subprocess.PIPE)
        if stdin is not None:       # `-f -`: what lb reads from standard input, then end of file
            self.proc.stdin.write(stdin.encode())
            self.proc.stdin.close()

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> str:
        rx = re.compile(pattern)

        def seen():
            self._check_alive(allow_exit=True)
            return len(rx.findall(self.log)) >= count
        wait_for(seen, timeout, f"log line /{pattern}/ (x{count}) in:\n{self.log}")
        return self.log

    def _check_alive(self, allow_exit: bool = False) -> None:
        if self.proc.poll() is not None and not allow_exit:
            raise AssertionError(f"lb exited with {self.proc.returncode}:\n{self.log}")

    def get(self, path: str, timeout: float = 3.0) -> bytes:
        cmd = netns_prefix(self.ns) + ["curl", "-sS", "--max-time", str(timeout),
                                       f"http://127.0.0.1:{self.metrics_port}{path}"]
        done = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
        if done.returncode != 0:
            raise OSError(done.stderr.decode())
        return done.stdout

    def status(self, connections: bool = False) -> dict:
        return json.loads(self.get("/status" + ("?connections=1" if connections else "")))

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> "Lb":
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"lb exited with {self.proc.returncode}:\n{self.log}")
            try:
                return json.loads(self.get("/healthz", timeout=1)).get("status") == "ok"
            except (OSError, ValueError):
                return False
        wait_for(healthy, timeout, f"lb /healthz on 127.0.0.1:{self.metrics_port}")
        return self

    def terminate(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            # SIGKILL is final, but the exit itself (unmapping, closing sockets) can take
            # seconds on a machine busy with other work
            self.proc.wait(30)
        self.log_file.close()


@pytest.fixture
def backends():
    """backends(n=3, ns=None, net=None) -> Backends on 127.<net>.1..n, stopped at teardown."""
    started: list[Backends] = []

    def start(n: int = 3, ns: str | None = None, net: str | None = None, port: int | None = None) -> Backends:
        net = net or random_loopback_net()
        ips = [f"{net}.{i + 1}" for i in range(n)]
        for _ in range(5):
            p = port or (free_port(ips[0]) if ns is None else random.randint(20000, 29999))
            try:
                b = Backends(ips, p, ns)
            except RuntimeError:
                if port:
                    raise
                continue
            started.append(b)
            return b
        raise RuntimeError("could not start backends")

    yield start
    for b in started:
        b.stop()


@pytest.fixture
def lb(tmp_path):
    """lb(files, extra=(), ns=None, wrap=(), stdin=None) -> a started Lb (not yet ready: call wait_ready()).
    wrap: a command prefix inside the namespace, e.g. setpriv to drop a capability; stdin: text
    for `-f -`."""
    running: list[Lb] = []

    def start(files, extra=(), ns=None, wrap=(), stdin=None) -> Lb:
        proc = Lb(tmp_path, list(files), list(extra), ns, wrap=list(wrap), stdin=stdin)
        running.append(proc)
        return proc

    yield start
    for proc in running:
        proc.kill()
        if proc.ns is None:
            assert "address_added" not in proc.log, "lb added an address in the host namespace"


@pytest.fixture
def netns(request):
    """netns(purpose) -> name of a fresh namespace with lo up, deleted at teardown."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    made: list[str] = []

    def make(purpose: str) -> str:
        name = f"lbtest-{purpose}-{os.getpid()}"
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        made.append(name)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        return name

    yield make
    for name in made:
        # processes inside die with their fixtures first (fixture order); the namespace goes last
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run_curl(url: str, ns: str | None = None, timeout: float = 5.0, extra: list[str] = ()) -> str:
    done = subprocess.run(netns_prefix(ns) + ["curl", "-sS", "--max-time", str(timeout), *extra, url],
                          capture_output=True, text=True, timeout=timeout + 5)
    if done.returncode != 0:
        raise AssertionError(f"curl {url} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


@pytest.fixture
def curl():
    return run_curl


def run_lb(*argv: str, ns: str | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess:
    return subprocess.run(netns_prefix(ns) + [PYTHON, "-m", "lb", *argv], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def lb_cli():
    """lb_cli('status', '--stats', ...) -> CompletedProcess of `python -m lb ...`."""
    return run_lb


def service_yaml(name: str, ip: str, port: int, backends: Backends | None, *, namespace: str = "study",
                 affinity: bool = False, node_port: int | None = None, extra_ports: str = "",
                 target_port: int | None = None, svc_type: str | None = None) -> str:
    """A Service without selector plus its Endpoints (every backend address)."""
    target = target_port or (backends.port if backends else port)
    kind = svc_type or ("NodePort" if node_port else "ClusterIP")
    lines = ["apiVersion: v1", "kind: Service", "metadata:", f"  name: {name}", f"  namespace: {namespace}",
             "spec:", f"  type: {kind}", f"  clusterIP: {ip}"]
    if affinity:
        lines.append("  sessionAffinity: ClientIP")
    lines += ["  ports:", "  - name: http", f"    port: {port}", "    protocol: TCP", f"    targetPort: {target}"]
    if node_port:
        lines.append(f"    nodePort: {node_port}")
    if extra_ports:
        lines.append(extra_ports.rstrip("\n"))
    doc = "\n".join(lines) + "\n"
    if backends is not None:
        doc += endpoints_yaml(name, backends.ips, target, namespace=namespace)
    return doc


def endpoints_yaml(name: str, ips: list[str], port: int, namespace: str = "study") -> str:
    addrs = "".join(f"  - ip: {ip}\n" for ip in ips)
    return (f"---\napiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"subsets:\n- addresses:\n{addrs}  ports:\n  - name: http\n    port: {port}\n")


@pytest.fixture
def manifest(tmp_path):
    """manifest(text, name='svc.yaml') -> Path written under tmp_path."""
    def write(text: str, name: str = "svc.yaml") -> Path:
        path = tmp_path / name
        tmp = tmp_path / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, path)      # atomic, as editors and config management write
        return path
    return write


class KeepAlive:
    """A raw HTTP/1.1 keep-alive connection: several requests on one TCP connection."""

    def __init__(self, ip: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((ip, port), timeout=timeout)
        self.host = f"{ip}:{port}"

    def get(self, path: str = "/") -> str:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed after {data!r}")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(body) < length:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed mid-body")
            body += chunk
        return body.decode().strip()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def keepalive():
    opened: list[KeepAlive] = []

    def open_(ip: str, port: int) -> KeepAlive:
        c = KeepAlive(ip, port)
        opened.append(c)
        return c

    yield open_
    for c in opened:
        c.close()


# -- core harness ---------------------------------------------------------------------------------
# Fixtures of the lb._core scenario tests (tests/test_core_*.py); their helpers live in
# tests/core_harness.py, imported when a fixture runs so that other tests never load lb._core.

@pytest.fixture
def proxy():
    """A started lb._core.Core with 2 workers (core_harness.Proxy), stopped at teardown."""
    from core_harness import Proxy
    p = Proxy()
    yield p
    p.close()


@pytest.fixture
def tcp_backends():
    """tcp_backends(n=1, ip="127.0.0.{}", **kw) -> n in-process core_harness.Backend servers,
    one per address from 127.0.0.2 up (or all on ip without "{}"), closed at teardown."""
    from core_harness import Backend
    made = []

    def make(n=1, ip="127.0.0.{}", **kw):
        for i in range(n):
            made.append(Backend(ip.format(2 + len(made)) if "{}" in ip else ip, **kw))
        return made[-n:]

    yield make
    for b in made:
        b.close()
