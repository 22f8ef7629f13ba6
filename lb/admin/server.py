"""The admin HTTP endpoint on --metrics-bind-address (kube-proxy's 10249):
GET /healthz, /metrics (Prometheus text), /status (JSON, ?connections=1).

A plain asyncio server, no framework: one request per connection, GET only,
small bounded reads so a slow or hostile client can't hold it.
"""
from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

from lb.admin import views

MAX_REQUEST = 8192
READ_TIMEOUT = 5.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}


class AdminServer:
    """Serves views of the Instance that `instance()` returns at each request."""

    def __init__(self, instance):
        self.instance = instance
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and serve; returns the bound (host, port) (port 0 picks one)."""
        self.server = await asyncio.start_server(self._on_client, host, port, reuse_address=True)
        return self.server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        try:
            status, ctype, body = self.route(head[:MAX_REQUEST].decode("latin-1"))
        except Exception as e:   # a bug in a view answers 500, never kills the server
            status, ctype, body = 500, "application/json", _json({"error": repr(e)})
        writer.write(f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    def route(self, head: str) -> tuple[int, str, bytes]:
        parts = head.split("\r\n", 1)[0].split()
        if len(parts) != 3:
            return 400, "text/plain", b"bad request\n"
        method, target, _version = parts
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET\n"
        url = urlsplit(target)
        query = parse_qs(url.query)
        instance = self.instance()
        if url.path == "/healthz":
            return 200, "application/json", _json(views.health(instance))
        if url.path == "/metrics":
            return 200, PROMETHEUS_TEXT, views.metrics(instance).encode()
        if url.path == "/status":
            want = query.get("connections", ["0"])[0] not in ("0", "false", "")
            return 200, "application/json", _json(views.status(instance, connections=want))
        return 404, "text/plain", b"not found: try /status, /metrics or /healthz\n"


def _json(doc) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=False) + "\n").encode()
