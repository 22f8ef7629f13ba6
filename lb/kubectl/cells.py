"""The cells of kubectl's tables and describe pages, from the objects lb read: AGE, labels,
a Service's ports and addresses, endpoint lists, a Pod's READY and STATUS.

Cell contents follow k/k pkg/printers/internalversion/printers.go.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from lb.config.model import Pod, Service

MAX_LISTED = 3                 # kubectl lists 3 endpoints, then "+ N more..."
LB_STATUS_WIDTH = 16           # loadBalancerWidth: longer EXTERNAL-IPs are cut unless -o wide


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


def parse_time(text) -> float | None:
    """An RFC 3339 time as the API writes it ("2024-01-02T03:04:05Z"), as a Unix time."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


def created(manifest: Mapping | None, mtime: float) -> float:
    """When an object was made: metadata.creationTimestamp, else its file's mtime."""
    stamp = parse_time(((manifest or {}).get("metadata") or {}).get("creationTimestamp"))
    return stamp if stamp is not None else mtime


def age(created_at: float | None, now: float) -> str:
    return "<unknown>" if not created_at else human_duration(now - created_at)


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


# --- Service ------------------------------------------------------------------------

def service_ports(svc: Service) -> str:
    pieces = [f"{sp.port}:{sp.node_port}/{sp.protocol}" if sp.node_port else f"{sp.port}/{sp.protocol}"
              for sp in svc.ports]
    return ",".join(pieces) or "<none>"


def load_balancer_ingress(svc: Service) -> list[Mapping]:
    """status.loadBalancer.ingress as written (ip, hostname, ipMode); the model's IPs when
    the Service was built without its manifest."""
    status = (svc.manifest or {}).get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress")
    if ingress is None:
        return [{"ip": ip} for ip in svc.load_balancer_ingress]
    return [i for i in ingress if isinstance(i, Mapping)]


def service_external_ip(svc: Service, wide: bool) -> str:
    if svc.type in ("ClusterIP", "NodePort"):
        return ",".join(svc.external_ips) or "<none>"
    if svc.type == "LoadBalancer":
        # loadBalancerStatusStringer: a sorted set of ingress IPs, else hostnames
        names = sorted({i.get("ip") or i.get("hostname") for i in load_balancer_ingress(svc)} - {None, ""})
        lb = ",".join(names)
        if not wide and len(lb) > LB_STATUS_WIDTH:
            lb = lb[:LB_STATUS_WIDTH - 3] + "..."
        ips = ([lb] if lb else []) + list(svc.external_ips)
        return ",".join(ips) or "<pending>"
    if svc.type == "ExternalName":
        return svc.external_name or ""
    return "<unknown>"


def ingress_text(svc: Service) -> str:
    """describe's LoadBalancer Ingress: in status order, an IP with its ipMode, else the hostname."""
    parts = []
    for i in load_balancer_ingress(svc):
        if i.get("ip"):
            parts.append(f"{i['ip']} ({i['ipMode']})" if i.get("ipMode") else i["ip"])
        else:
            parts.append(i.get("hostname") or "")
    return ", ".join(parts)


def service_cluster_ip(svc: Service) -> str:
    """An ExternalName Service lb forwards shows lb's address for it (the API has none)."""
    if svc.cluster_ips:
        return svc.cluster_ips[0]
    return svc.cluster_ip or svc.forward_ip or "<none>"


# --- Pod ----------------------------------------------------------------------------

def pod_counts(pod: Pod) -> tuple[int, int, int]:
    """(ready containers, containers, restarts): ready counts containerStatuses only, so a
    Pod without them is 0/N as kubectl shows it."""
    manifest = pod.manifest or {}
    statuses = [cs for cs in ((manifest.get("status") or {}).get("containerStatuses")) or [] if isinstance(cs, dict)]
    total = len(((manifest.get("spec") or {}).get("containers")) or []) or max(len(statuses), 1)
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
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
