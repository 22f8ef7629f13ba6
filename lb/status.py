"""`lb status`: the running instance's table in ipvsadm's layouts.

    lb status        ipvsadm -Ln           virtual servers, real servers, ActiveConn/InActConn
    lb status --stats ipvsadm -Ln --stats  Conns, InBytes, OutBytes (no packet counts: lb
                                           proxies streams, it never sees packets)
    lb status -c     ipvsadm -Lnc          one line per connection

Column widths are ipvsadm's own printf formats (ipvsadm.c: print_title,
print_service_entry, print_conn), trailing spaces included, so scripts written
for ipvsadm read these. The first line names lb instead of the kernel's IPVS
version: there is no IPVS here. A node port served on every address shows as
0.0.0.0:port and [::]:port (ipvs lists each node IP). The core counts per
service port, so every virtual server of one Service port shows the same
Conns/bytes. Virtual servers that could not be served are left out of the
table and listed on stderr.
"""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from lb import __version__
from lb.addresses import host_port
from lb.control import parse_host_port

TIMEOUT = 3.0
LIST_TITLE = ("Prot LocalAddress:Port Scheduler Flags\n"
              "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")


def _svc_name(vs: dict) -> str:
    name = f"{vs['protocol']}  {host_port(vs['address'], vs['port'])}"
    return name if ":" in vs["address"] else name[:33]   # ipvsadm cuts IPv4 names at 33


def _dest_name(vs: dict, rs: dict) -> str:
    name = host_port(rs["address"], rs["port"])
    return name if ":" in vs["address"] else name[:28]


def _largenum(i: int) -> str:
    """ipvsadm's print_largenum: 9 columns, K/M/G/T past 100 million."""
    if i < 100_000_000:
        return f"{i:9d}"
    if i < 1_000_000_000:
        return f"{i // 1000:8d}K"
    if i < 100_000_000_000:
        return f"{i // 1_000_000:8d}M"
    if i < 100_000_000_000_000:
        return f"{i // 1_000_000_000:8d}G"
    return f"{i // 1_000_000_000_000:8d}T"


def serving(doc: dict) -> list[dict]:
    return [vs for vs in doc.get("virtual_servers", []) if vs.get("serving", True)]


def format_list(doc: dict) -> str:
    out = [f"lb {doc.get('version', __version__)} (ipvsadm -Ln layout)\n", LIST_TITLE]
    for vs in serving(doc):
        line = f"{_svc_name(vs)} {vs['scheduler']}"
        if vs.get("persistent"):
            line += f" persistent {vs['persistent']}"
        out.append(line + "\n")
        for rs in vs["real_servers"]:
            out.append(f"  -> {_dest_name(vs, rs):<28} {rs['forward']:<7} {rs['weight']:<6d} "
                       f"{rs['active']:<10d} {rs['inactive']:<10d}\n")
    return "".join(out)


def format_stats(doc: dict) -> str:
    out = [f"lb {doc.get('version', __version__)} (ipvsadm -Ln --stats layout; "
           "no InPkts/OutPkts: lb counts connections and bytes, not packets)\n",
           f"{'Prot LocalAddress:Port':<33} {'Conns':>8} {'InBytes':>8} {'OutBytes':>8}\n"
           "  -> RemoteAddress:Port\n"]
    for vs in serving(doc):
        out.append(f"{_svc_name(vs):<33}{_largenum(vs['connections'])}{_largenum(vs['bytes_in'])}"
                   f"{_largenum(vs['bytes_out'])}\n")
        for rs in vs["real_servers"]:
            out.append(f"  -> {_dest_name(vs, rs):<28}{_largenum(rs['connections'])}{_largenum(rs['bytes_in'])}"
                       f"{_largenum(rs['bytes_out'])}\n")
    return "".join(out)


def format_connections(doc: dict) -> str:
    out = [f"lb {doc.get('version', __version__)} connection entries (ipvsadm -Lnc layout)\n",
           f"pro expire {'state':<11} {'source':<18} {'virtual':<18} destination\n"]
    for c in doc.get("connections", []):
        minutes, seconds = divmod(int(c.get("expire_seconds", 0)), 60)
        out.append(f"{c.get('protocol', 'TCP'):<3} {f'{minutes:02d}:{seconds:02d}':<6} {c['state']:<11} "
                   f"{host_port(c['client_ip'], c['client_port']):<18} {host_port(c['frontend_ip'], c['frontend_port']):<18} "
                   f"{host_port(c['backend_ip'], c['backend_port'])}\n")
    return "".join(out)


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
    host, port = parse_host_port(address)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    where = host_port(host, port)
    url = f"http://{where}/status" + ("?connections=1" if connections else "")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            return json.loads(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ConnectionError(f"no lb instance answers at {where} (start one with lb run -f ...)") from None


def main(args) -> int:
    try:
        doc = fetch(args.metrics_bind_address, connections=args.connection)
    except ConnectionError as e:
        print(f"lb status: {e}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(doc, indent=1))
        return 0
    if args.connection:
        sys.stdout.write(format_connections(doc))
    elif args.stats:
        sys.stdout.write(format_stats(doc))
    else:
        sys.stdout.write(format_list(doc))
    for line in problems(doc):
        print(f"lb status: {line}", file=sys.stderr)
    return 0
