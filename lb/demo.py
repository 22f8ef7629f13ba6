"""`lb demo`: the seed blog's Service walk-through on one machine, no root needed.

Three tiny HTTP backends stand in for the nginx pods (127.0.1.1-3:8080, answering
`IP: 127.0.1.1 pod-1 node1`); lb serves study/service-clusterip on the loopback
VIP 127.10.97.97:8080 from the manifests bundled in lb/demo_manifests/; six requests go
round robin, then the same Service is reloaded with sessionAffinity: ClientIP and
six requests stick to one pod; last, `lb status` shows the table with real counts.

The backends double as the test suite's backends (`backend_main`).
"""
from __future__ import annotations

import asyncio
import errno
import io
import os
import shutil
import sys
import tempfile

from lb.addresses import host_port
from lb.settings import RunSettings

DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_manifests")
VIP, PORT = "127.10.97.97", 8080
PODS = (("127.0.1.1", "pod-1", "node1"), ("127.0.1.2", "pod-2", "node1"), ("127.0.1.3", "pod-3", "node2"))
REQUEST_TIMEOUT = 5.0
MAX_HEAD = 16384


# -- the pods ------------------------------------------------------------------
async def _serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str) -> None:
    """HTTP/1.1 with keep-alive: each request gets `text`; /hold/N sleeps N s first
    (a long-lived connection for drain and reload tests)."""
    try:
        while True:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            path = line[1] if len(line) > 1 else "/"
            if path.startswith("/hold/"):
                await asyncio.sleep(min(float(path[6:] or 0), 30))
            body = (text + "\n").encode()
            close = b"connection: close" in head.lower()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
                         % (len(body), b"Connection: close\r\n" if close else b"") + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError,
            ValueError):
        pass
    finally:
        writer.close()


async def start_pods(pods, port: int) -> list[asyncio.base_events.Server]:
    """One HTTP server per (ip, name, node). Raises OSError with a clear message."""
    servers = []
    try:
        for ip, name, node in pods:
            text = f"IP: {ip} {name} {node}"
            try:
                servers.append(await asyncio.start_server(lambda r, w, t=text: _serve_http(r, w, t), ip, port,
                                                          reuse_address=True))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise OSError(e.errno, f"another process holds {host_port(ip, port)}; stop it and run lb demo again") from None
                raise OSError(e.errno, f"cannot listen on {host_port(ip, port)}: {e.strerror}") from None
    except OSError:
        for s in servers:
            s.close()
        raise
    return servers


def backend_main(argv: list[str] | None = None) -> int:
    """`python -c 'from lb.demo import backend_main; backend_main()' IP:PORT:NAME:NODE ...`
    serves until killed; prints `ready` once every socket listens."""
    specs = [a.rsplit(":", 3) for a in (argv if argv is not None else sys.argv[1:])]

    async def main():
        servers = []
        for ip, port, name, node in specs:
            servers += await start_pods([(ip, name, node)], int(port))
        print("ready", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except OSError as e:
        print(f"backend: {e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


# -- the client ------------------------------------------------------------------
async def http_get(ip: str, port: int, path: str = "/") -> str:
    """One GET with Connection: close, as curl does; returns the body."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), REQUEST_TIMEOUT)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host_port(ip, port)}\r\nUser-Agent: lb-demo\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT)
    finally:
        writer.close()
    return data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()


# -- the walk-through --------------------------------------------------------------
def _settings(files: list[str], metrics: str, workers) -> RunSettings:
    return RunSettings(files=tuple(files), workers=workers or 2, nodeport_addresses=("127.0.0.1",),
                       metrics_bind_address=metrics, tcp_idle_timeout=60.0, drain_timeout=1.0)


async def _curl(ip: str, port: int) -> str:
    """The real curl, as the seed runs it; its error text when it fails."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", str(REQUEST_TIMEOUT), f"http://{host_port(ip, port)}/",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return (out if proc.returncode == 0 else err).decode(errors="replace").strip()


async def _requests(n: int, out) -> list[str]:
    curl = shutil.which("curl")
    if not curl:
        print("# curl is not installed: lb demo sends the same GET itself", file=out)
    answers = []
    for _ in range(n):
        print(f"$ curl {VIP}:{PORT}", file=out)
        try:
            body = await (_curl(VIP, PORT) if curl else http_get(VIP, PORT))
        except (OSError, asyncio.TimeoutError) as e:
            body = f"curl: ({getattr(e, 'errno', 7) or 7}) Failed to connect to {VIP} port {PORT}: {e}"
        print(body, file=out, flush=True)
        answers.append(body)
    return answers


async def walkthrough(workers: int | None = None, requests: int = 6, metrics_bind_address: str = "127.0.0.1:0",
                      serve: bool = False, out=sys.stdout) -> int:
    from lb.control import Control
    from lb.eventlog import EventLog
    from lb.ipvsadm import format_list
    from lb.status import fetch

    logbuf = io.StringIO()
    work = tempfile.mkdtemp(prefix="lb-demo-")
    control = None
    pods = []
    try:
        for name in ("pods.yaml", "service-clusterip.yaml"):
            shutil.copy(os.path.join(DEMO_DIR, name), work)
        try:
            pods = await start_pods(PODS, PORT)
        except OSError as e:
            print(f"lb demo: {e.strerror}", file=sys.stderr)
            return 1
        print("# three pods of study/service-clusterip (label app=nginx-pod):", file=out)
        for ip, name, node in PODS:
            print(f"#   {name}  {host_port(ip, PORT)}  {node}", file=out)
        files = [os.path.join(work, "pods.yaml"), os.path.join(work, "service-clusterip.yaml")]
        print(f"$ lb run -f {' -f '.join(files)}", file=out)
        control = Control(_settings(files, metrics_bind_address, workers), log=EventLog(logbuf))
        if not await control.start():
            sys.stderr.write(logbuf.getvalue())
            return 1
        if control.instance.serving_errors():
            for hint in dict.fromkeys(control.instance.serving_errors().values()):
                print(f"lb demo: {hint}", file=sys.stderr)
            return 1
        await control.start_admin()
        print(f"# serving {VIP}:{PORT} (clusterIP of study/service-clusterip), scheduler rr\n", file=out)
        rr = await _requests(requests, out)

        print("\n# the same Service with sessionAffinity: ClientIP, reloaded in place:", file=out)
        shutil.copy(os.path.join(DEMO_DIR, "service-clusterip-affinity.yaml"),
                    os.path.join(work, "service-clusterip.yaml"))
        await control.reload("demo")
        sticky = await _requests(requests, out)

        print("\n$ lb status", file=out)
        if control.admin_address is not None:
            address = host_port(*control.admin_address)
            doc = await asyncio.get_running_loop().run_in_executor(None, fetch, address)
        else:
            from lb.admin.views import status
            doc = status(control.instance)
        out.write(format_list(doc))
        out.flush()
        ok = len(set(rr)) == min(len(PODS), len(rr)) and len(set(sticky)) == 1
        if not ok:
            print("lb demo: the answers above are not what rr and ClientIP affinity give; log:", file=sys.stderr)
            sys.stderr.write(logbuf.getvalue())
            return 1
        if serve:
            print(f"\n# serving until Ctrl-C; try: curl {VIP}:{PORT}; lb status --metrics-bind-address "
                  f"{host_port(*control.admin_address) if control.admin_address else ''}", file=out, flush=True)
            await asyncio.Event().wait()
        return 0
    finally:
        if control is not None and control.serving is not None:
            await control.shutdown()
            control.serving.cleanup()
        for s in pods:
            s.close()
        shutil.rmtree(work, ignore_errors=True)


def main(**options) -> int:
    """`lb demo` (options: walkthrough's keywords)."""
    import uvloop

    try:
        return uvloop.run(walkthrough(**options))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(backend_main())
