"""`lb get`'s tables in kubectl's columns: one row function per resource, then the
columns every table may gain (NAMESPACE first with -A, LABELS last with --show-labels)."""
from __future__ import annotations

from typing import Callable, Sequence

from lb.addresses import host_port
from lb.kubectl.cells import (age, format_labels, more, pod_counts, pod_status, service_cluster_ip,
                              service_external_ip, service_ports)
from lb.kubectl.items import Item
from lb.kubectl.tabwriter import table

SERVICE_COLUMNS = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
ENDPOINTS_COLUMNS = ["NAME", "ENDPOINTS", "AGE"]
ENDPOINTSLICE_COLUMNS = ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
POD_COLUMNS = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
POD_WIDE_COLUMNS = ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]

Row = Callable[[Item, float, bool], list[str]]


def service_row(item: Item, now: float, wide: bool) -> list[str]:
    svc = item.obj.service
    row = [svc.name, svc.type, service_cluster_ip(svc), service_external_ip(svc, wide), service_ports(svc),
           age(item.created, now)]
    return row + [format_labels(svc.selector)] if wide else row


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


def endpoints_row(item: Item, now: float, wide: bool) -> list[str]:
    return [item.name, format_endpoints(item.obj.subsets), age(item.created, now)]


def endpointslice_row(item: Item, now: float, wide: bool) -> list[str]:
    es = item.obj
    ports = [str(p.port) if p.port else (p.name or "<unset>") for p in es.ports]
    addrs = [a.ip for a in es.addresses]
    return [es.name, es.address_type, more(ports, len(ports), "<unset>"), more(addrs, len(addrs), "<unset>"),
            age(item.created, now)]


def pod_row(item: Item, now: float, wide: bool) -> list[str]:
    pod = item.obj
    ready, total, restarts = pod_counts(pod)
    row = [pod.name, f"{ready}/{total}", pod_status(pod), str(restarts), age(item.created, now)]
    if wide:
        row += [pod.ips[0] if pod.ips else "<none>", pod.node_name or "<none>", "<none>", "<none>"]
    return row


def render(columns: Sequence[str], row: Row, items: Sequence[Item], now: float, *, wide: bool = False,
           all_namespaces: bool = False, show_labels: bool = False) -> str:
    header = list(columns)
    rows = [row(item, now, wide) for item in items]
    if all_namespaces:
        header = ["NAMESPACE", *header]
        rows = [[item.namespace, *r] for item, r in zip(items, rows)]
    if show_labels:
        header.append("LABELS")
        rows = [[*r, format_labels(item.labels)] for item, r in zip(items, rows)]
    return table(header, rows)
