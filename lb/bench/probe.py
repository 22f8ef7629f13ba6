"""The client agent: one long-lived process in the client namespace that the harness asks,
over a pipe of JSON lines, to open connections, so that polls and latency samples cost
no process start (`ip netns exec python` takes ~100 ms, more than what is measured).

Operations (every one bounded by its own timeout):
  until     poll new connections to ip:port (HTTP/1.0 GET, read to EOF) until one answers
            200 with `expect` in the body; returns the CLOCK_MONOTONIC time it did
            (the clock is the machine's, shared with the harness).
  latency   `count` sequential new connections, each connect + request + response to EOF,
            timed in ms; failures are counted, not timed.
  hold      open `count` connections at `rate` per second and keep them (idle workload);
  release   close them (also done after `hold_max` seconds whatever happens).

`python -m lb.bench.probe` is the agent; ClientProbe is the harness's side.
"""
from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import time

REQUEST = b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n"
CONNECT_TIMEOUT = 0.5
POLL_INTERVAL = 0.02
REPLY_SLACK = 15.0          # harness side: seconds beyond an operation's own bound
HOLD_BATCH = 100
HOLD_CONNECT_WAIT = 2.0     # per batch of connects
HOLD_SLACK = 15.0           # a hold gives up this long after count/rate seconds


# -- the agent (runs in the client namespace) ----------------------------------------------
def fetch(ip: str, port: int, timeout: float) -> bytes:
    """One new connection: the whole HTTP/1.0 response. Raises OSError on failure."""
    with socket.create_connection((ip, port), timeout=timeout) as s:
        s.sendall(REQUEST)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def until(ip: str, port: int, expect: str, timeout: float, http: bool = True) -> dict:
    deadline = time.monotonic() + timeout
    attempts, last_error = 0, ""
    want = expect.encode()
    while True:
        attempts += 1
        try:
            if not http:    # a connection is enough (an iperf3 server speaks no HTTP)
                socket.create_connection((ip, port), timeout=CONNECT_TIMEOUT).close()
                return {"ok": True, "at": time.monotonic(), "attempts": attempts}
            body = fetch(ip, port, min(CONNECT_TIMEOUT, max(deadline - time.monotonic(), 0.01)))
            if body.startswith(b"HTTP/1.1 200") and want in body:
                return {"ok": True, "at": time.monotonic(), "attempts": attempts}
            last_error = "answered by " + body.split(b"\r\n\r\n", 1)[-1][:40].decode(errors="replace").strip()
        except OSError as e:
            last_error = f"{type(e).__name__}: {e}"
        if time.monotonic() + POLL_INTERVAL >= deadline:
            return {"ok": False, "attempts": attempts, "error": last_error}
        time.sleep(POLL_INTERVAL)


def latency(ip: str, port: int, count: int, timeout: float) -> dict:
    samples, errors = [], 0
    deadline = time.monotonic() + timeout
    for _ in range(count):
        if time.monotonic() >= deadline:
            break
        t0 = time.perf_counter()
        try:
            if not fetch(ip, port, CONNECT_TIMEOUT * 2).startswith(b"HTTP/1.1 200"):
                errors += 1
                continue
        except OSError:
            errors += 1
            continue
        samples.append((time.perf_counter() - t0) * 1000.0)
    return {"samples_ms": samples, "errors": errors}


def hold(ip: str, port: int, count: int, rate: float, held: list) -> dict:
    """Open up to count connections at most `rate` per second; returns how many connected."""
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    poller = select.poll()
    ok = 0
    t0 = time.monotonic()
    give_up = t0 + count / rate + HOLD_SLACK
    while len(held) < count and time.monotonic() < give_up:
        pending: dict[int, socket.socket] = {}
        for _ in range(min(HOLD_BATCH, count - len(held))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((ip, port))
            held.append(s)
            pending[s.fileno()] = s
            poller.register(s, select.POLLOUT)
        deadline = min(time.monotonic() + HOLD_CONNECT_WAIT, give_up)
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(200):
                s = pending.pop(fd)
                poller.unregister(fd)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    ok += 1
        for fd in list(pending):
            poller.unregister(fd)
            pending.pop(fd)
        pause = t0 + len(held) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    return {"opened": ok, "seconds": round(time.monotonic() - t0, 2)}


def agent() -> int:
    held: list[socket.socket] = []
    release_at = None
    while True:
        wait = None if release_at is None else max(release_at - time.monotonic(), 0)
        if not select.select([sys.stdin], [], [], wait)[0]:      # hold_max passed
            for s in held:
                s.close()
            held.clear()
            release_at = None
            continue
        line = sys.stdin.readline()
        if not line:
            return 0
        op = json.loads(line)
        kind = op.pop("op")
        if kind == "until":
            out = until(**op)
        elif kind == "latency":
            out = latency(**op)
        elif kind == "hold":
            release_at = time.monotonic() + op.pop("hold_max")
            out = hold(held=held, **op)
        elif kind == "release":
            for s in held:
                s.close()
            held.clear()
            release_at = None
            out = {"ok": True}
        else:
            out = {"error": f"unknown op {kind}"}
        print(json.dumps(out), flush=True)


# -- the harness's side --------------------------------------------------------------------
class ProbeFailed(RuntimeError):
    pass


class ClientProbe:
    """Starts the agent in the client namespace and sends it one operation at a time."""

    def __init__(self, topo):
        from lb.bench.topology import CLIENT, PYTHON
        self.proc = topo.spawn(CLIENT, [PYTHON, "-m", "lb.bench.probe"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=open(topo.workdir / "probe.log", "ab"), text=True)

    def ask(self, bound: float, **op) -> dict:
        """Send one operation; its answer, or ProbeFailed when the agent is gone or silent
        for bound + REPLY_SLACK seconds."""
        if self.proc.poll() is not None:
            raise ProbeFailed(f"client agent exited with {self.proc.returncode}")
        self.proc.stdin.write(json.dumps(op) + "\n")
        self.proc.stdin.flush()
        ready = select.select([self.proc.stdout], [], [], bound + REPLY_SLACK)[0]
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise ProbeFailed(f"client agent gave no answer to {op['op']} within {bound + REPLY_SLACK:.0f}s")
        return json.loads(line)

    def until(self, ip: str, port: int, timeout: float, expect: str = "", http: bool = True) -> dict:
        return self.ask(timeout, op="until", ip=ip, port=port, expect=expect, timeout=timeout, http=http)

    def latency(self, ip: str, port: int, count: int, timeout: float) -> dict:
        return self.ask(timeout, op="latency", ip=ip, port=port, count=count, timeout=timeout)

    def hold(self, ip: str, port: int, count: int, rate: float, hold_max: float) -> dict:
        return self.ask(count / rate + HOLD_SLACK, op="hold", ip=ip, port=port, count=count, rate=rate,
                        hold_max=hold_max)

    def release(self) -> dict:
        return self.ask(5.0, op="release")


if __name__ == "__main__":
    sys.exit(agent())
