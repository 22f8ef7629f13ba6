"""The ipvsadm layouts users know, for lb's own table (`lb status`).

    format_list         ipvsadm -Ln           virtual servers, real servers, ActiveConn/InActConn
    format_stats        ipvsadm -Ln --stats   Conns, InBytes, OutBytes (no packet counts: lb
                                              proxies streams, it never sees packets)
    format_connections  ipvsadm -Lnc          one line per connection

Column widths are ipvsadm's own printf formats (ipvsadm.c: print_title,
print_service_entry, print_conn), trailing spaces included, so scripts written
for ipvsadm read these. The first line names lb instead of the kernel's IPVS
version: there is no IPVS here. A node port served on every address shows as
0.0.0.0:port and [::]:port (ipvs lists each node IP). The core counts per
service port, so every virtual server of one Service port shows the same
Conns/bytes. Input: the /status document (lb.admin.views.status).
"""
from __future__ import annotations

from lb import __version__
from lb.addresses import host_port

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
