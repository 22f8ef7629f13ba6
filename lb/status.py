"""`lb status`: the running instance's table in ipvsadm's layouts (lb.ipvsadm), read
from its admin endpoint's /status. Virtual servers that could not be served are left
out of the table and listed on stderr.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from lb.addresses import host_port, parse_host_port
from lb.ipvsadm import format_connections, format_list, format_stats
from lb.settings import DEFAULT_METRICS_PORT

TIMEOUT = 3.0


def problems(doc: dict) -> list[str]:
    """One line per virtual server that is not served, for stderr."""
    lines = [f"not serving {vs['protocol']} {host_port(vs['address'], vs['port'])} ({vs['service']}): {vs['error']}"
             for vs in doc.get("virtual_servers", []) if not vs.get("serving", True)]
    lines += [f"not serving {n['frontend']} ({n['service']}): {n['reason']}" for n in doc.get("not_served", [])]
    lines += [f"kept last good content of {r['path']}: {e}" for r in doc.get("rejected_files", []) for e in r["errors"]]
    return lines


def fetch(address: str, connections: bool = False) -> dict:
    """GET /status from the instance at address (HOST:PORT). Raises ConnectionError
    with the user-facing message when nothing answers."""
    host, port = parse_host_port(address, DEFAULT_METRICS_PORT)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    where = host_port(host, port)
    url = f"http://{where}/status" + ("?connections=1" if connections else "")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            return json.loads(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ConnectionError(f"no lb instance answers at {where} (start one with lb run -f ...)") from None


def main(address: str, stats: bool = False, connections: bool = False, output: str | None = None) -> int:
    try:
        doc = fetch(address, connections=connections)
    except ConnectionError as e:
        print(f"lb status: {e}", file=sys.stderr)
        return 1
    if output == "json":
        print(json.dumps(doc, indent=1))
        return 0
    if connections:
        sys.stdout.write(format_connections(doc))
    elif stats:
        sys.stdout.write(format_stats(doc))
    else:
        sys.stdout.write(format_list(doc))
    for line in problems(doc):
        print(f"lb status: {line}", file=sys.stderr)
    return 0
