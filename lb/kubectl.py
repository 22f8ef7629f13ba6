"""Tables in kubectl's layout (`get svc|ep|endpointslices|pods`, `describe svc`).

Column layout is Go's text/tabwriter as kubectl configures it: `get` uses
minwidth 6, padding 3 (k8s.io/cli-runtime printers.GetNewTabWriter); `describe`
uses minwidth 0, padding 2 (kubectl describe's tabbedString). Cell contents follow
k/k pkg/printers/internalversion/printers.go and kubectl pkg/describe/describe.go.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from lb.addresses import host_port
from lb.config.model import EndpointSet, Pod, Service
from lb.snapshot import ServiceView
from lb.snapshot.controllers import EndpointsObject

GET_MINWIDTH, GET_PADDING = 6, 3
DESCRIBE_MINWIDTH, DESCRIBE_PADDING = 0, 2
MAX_LISTED = 3                 # kubectl lists 3 endpoints, then "+ N more..."
LB_STATUS_WIDTH = 16           # loadBalancerWidth: longer EXTERNAL-IPs are cut unless -o wide
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# --- Go text/tabwriter --------------------------------------------------------------

def tabwrite(text: str, minwidth: int, padding: int) -> str:
    """Align tab-separated cells as Go's tabwriter (flags 0, padchar ' ') does: a
    column block is a run of consecutive lines that have a tab-terminated cell in
    that column; its width is the widest cell + padding (at least minwidth). The last
    cell of a line is never padded."""
    trailing = text.endswith("\n")
    lines = [line.split("\t") for line in (text[:-1] if trailing else text).split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(a: int, b: int) -> None:
        for cells in lines[a:b]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if trailing else "")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    text = "".join("\t".join(r) + "\n" for r in [list(header), *rows])
    return tabwrite(text, GET_MINWIDTH, GET_PADDING)


# --- cells -------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """apimachinery duration.HumanDuration: 10s, 5m47s, 3h, 2d, 278d, 3y10d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(mtime: float | None, now: float) -> str:
    return "<unknown>" if not mtime else human_duration(now - mtime)


def format_labels(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v joined by ',', <none> when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def more(items: list[str], count: int, empty: str = "") -> str:
    text = ",".join(items[:MAX_LISTED])
    if count > MAX_LISTED:
        return f"{text} + {count - MAX_LISTED} more..."
    return text or empty


def service_ports(svc: Service) -> str:
    pieces = [f"{sp.port}:{sp.node_port}/{sp.protocol}" if sp.node_port else f"{sp.port}/{sp.protocol}"
              for sp in svc.ports]
    return ",".join(pieces) or "<none>"


def service_external_ip(svc: Service, wide: bool) -> str:
    if svc.type in ("ClusterIP", "NodePort"):
        return ",".join(svc.external_ips) or "<none>"
    if svc.type == "LoadBalancer":
        lb = ",".join(svc.load_balancer_ingress)
        if not wide and len(lb) > LB_STATUS_WIDTH:
            lb = lb[:LB_STATUS_WIDTH - 3] + "..."
        ips = ([lb] if lb else []) + list(svc.external_ips)
        return ",".join(ips) or "<pending>"
    if svc.type == "ExternalName":
        return svc.external_name or ""
    return "<unknown>"


def service_cluster_ip(svc: Service) -> str:
    if svc.cluster_ips:
        return svc.cluster_ips[0]
    if svc.cluster_ip:
        return svc.cluster_ip
    return "<none>"


# --- get ---------------------------------------------------------------------------

def _with_ns(header: list[str], rows: list[list[str]], namespaces: list[str], all_namespaces: bool):
    if all_namespaces:
        return ["NAMESPACE", *header], [[ns, *r] for ns, r in zip(namespaces, rows)]
    return header, rows


def services_table(services: Sequence[Service], now: float, wide: bool = False,
                   all_namespaces: bool = False, mtime_of=None) -> str:
    header = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"] + (["SELECTOR"] if wide else [])
    rows = []
    for svc in services:
        row = [svc.name, svc.type, service_cluster_ip(svc), service_external_ip(svc, wide),
               service_ports(svc), age(_mtime(svc, mtime_of), now)]
        if wide:
            row.append(format_labels(svc.selector))
        rows.append(row)
    return table(*_with_ns(header, rows, [s.namespace for s in services], all_namespaces))


def format_endpoints(subsets) -> str:
    """printers.go formatEndpoints: ready addresses x ports, 3 listed; <none> without subsets."""
    if not subsets:
        return "<none>"
    listed, count = [], 0
    for ips, ports in subsets:
        if not ports:
            listed.extend(ips)
            count += len(ips)
        for port in ports:
            listed.extend(host_port(ip, port) for ip in ips)
            count += len(ips)
    return more(listed, count)


def endpoints_table(items: Sequence[EndpointsObject], now: float, all_namespaces: bool = False) -> str:
    rows = [[it.name, format_endpoints(it.subsets), age(it.mtime, now)] for it in items]
    return table(*_with_ns(["NAME", "ENDPOINTS", "AGE"], rows, [it.namespace for it in items], all_namespaces))


def endpointslices_table(slices: Sequence[EndpointSet], now: float, all_namespaces: bool = False,
                         mtime_of=None) -> str:
    rows = []
    for es in slices:
        ports = [str(p.port) if p.port else (p.name or "<unset>") for p in es.ports]
        addrs = [a.ip for a in es.addresses]
        rows.append([es.name, es.address_type, more(ports, len(ports), "<unset>"),
                     more(addrs, len(addrs), "<unset>"), age(_mtime(es, mtime_of), now)])
    header = ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    return table(*_with_ns(header, rows, [es.namespace for es in slices], all_namespaces))


def pods_table(pods: Sequence[Pod], now: float, wide: bool = False, all_namespaces: bool = False,
               mtime_of=None) -> str:
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    if wide:
        header += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    rows = []
    for pod in pods:
        ready, total, restarts = _pod_counts(pod)
        row = [pod.name, f"{ready}/{total}", pod_status(pod), str(restarts), age(_mtime(pod, mtime_of), now)]
        if wide:
            row += [pod.ips[0] if pod.ips else "<none>", pod.node_name or "<none>", "<none>", "<none>"]
        rows.append(row)
    return table(*_with_ns(header, rows, [p.namespace for p in pods], all_namespaces))


def _pod_counts(pod: Pod) -> tuple[int, int, int]:
    manifest = pod.manifest or {}
    statuses = ((manifest.get("status") or {}).get("containerStatuses")) or []
    total = len(((manifest.get("spec") or {}).get("containers")) or []) or max(len(statuses), 1)
    if statuses:
        ready = sum(1 for cs in statuses if isinstance(cs, dict) and cs.get("ready"))
    else:
        ready = total if pod.ready else 0
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses if isinstance(cs, dict))
    return ready, total, restarts


def pod_status(pod: Pod) -> str:
    """printPod's STATUS, simplified: Terminating, a container's waiting/terminated
    reason, the Pod's reason, else its phase."""
    if pod.terminating:
        return "Terminating"
    status = (pod.manifest or {}).get("status") or {}
    for cs in status.get("containerStatuses") or []:
        state = (cs or {}).get("state") or {}
        for key in ("waiting", "terminated"):
            reason = (state.get(key) or {}).get("reason")
            if reason:
                return reason
    return status.get("reason") or pod.phase or "Pending"


def _mtime(obj, mtime_of) -> float:
    src = getattr(obj, "source", None)
    if src is None:
        return 0.0
    if src.mtime:
        return src.mtime
    return mtime_of(src.path) if mtime_of else 0.0


# --- describe ----------------------------------------------------------------------

def _multiline(title: str, items: list[str]) -> list[str]:
    if not items:
        return [f"{title}:\t<none>"]
    return [f"{title}:\t{items[0]}"] + [f"\t{item}" for item in items[1:]]


def describe_service(view: ServiceView, has_endpoint_sets: bool) -> str:
    """kubectl describe service. Endpoints per port are the ready ones (3 listed);
    <none> when no Endpoints/EndpointSlice exists for the Service at all."""
    svc = view.service
    lines = [f"Name:\t{svc.name}", f"Namespace:\t{svc.namespace}"]
    lines += _multiline("Labels", [f"{k}={svc.labels[k]}" for k in sorted(svc.labels or {})])
    annotations = {k: v for k, v in (svc.annotations or {}).items() if k != LAST_APPLIED}
    lines += _multiline("Annotations", [f"{k}: {str(annotations[k]).rstrip(chr(10))}" for k in sorted(annotations)])
    lines.append(f"Selector:\t{format_labels(svc.selector)}")
    lines.append(f"Type:\t{svc.type}")
    if svc.ip_family_policy:
        lines.append(f"IP Family Policy:\t{svc.ip_family_policy}")
    lines.append(f"IP Families:\t{','.join(svc.ip_families) or '<none>'}")
    lines.append(f"IP:\t{svc.cluster_ip}")
    lines.append(f"IPs:\t{','.join(svc.cluster_ips) or '<none>'}")
    if svc.external_ips:
        lines.append(f"External IPs:\t{','.join(svc.external_ips)}")
    if svc.load_balancer_ip:
        lines.append(f"Desired LoadBalancer IP:\t{svc.load_balancer_ip}")
    if svc.external_name:
        lines.append(f"External Name:\t{svc.external_name}")
    if svc.load_balancer_ingress:
        lines.append(f"LoadBalancer Ingress:\t{', '.join(svc.load_balancer_ingress)}")
    for rp in view.ports:
        sp = rp.port
        name = sp.name or "<unset>"
        lines.append(f"Port:\t{name}\t{sp.port}/{sp.protocol}")
        lines.append(f"TargetPort:\t{sp.target_port}/{sp.protocol}")
        if sp.node_port:
            lines.append(f"NodePort:\t{name}\t{sp.node_port}/{sp.protocol}")
        ready = [ep.address for ep in rp.endpoints if ep.ready]
        lines.append(f"Endpoints:\t{more(ready, len(ready)) if has_endpoint_sets else '<none>'}")
    lines.append(f"Session Affinity:\t{svc.session_affinity}")
    if svc.external_traffic_policy:
        lines.append(f"External Traffic Policy:\t{svc.external_traffic_policy}")
    # The seed's kubectl predates the Internal Traffic Policy line; show it only when
    # it changes behaviour, so the common layout stays the one users know.
    if svc.internal_traffic_policy and svc.internal_traffic_policy != "Cluster":
        lines.append(f"Internal Traffic Policy:\t{svc.internal_traffic_policy}")
    if svc.load_balancer_source_ranges:
        lines.append(f"LoadBalancer Source Ranges:\t{','.join(svc.load_balancer_source_ranges)}")
    lines.append("Events:\t<none>")
    return tabwrite("\n".join(lines) + "\n", DESCRIBE_MINWIDTH, DESCRIBE_PADDING)
