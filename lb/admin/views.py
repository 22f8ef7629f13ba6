"""What the admin endpoint answers: /healthz, /status (JSON) and /metrics (Prometheus
text), built from the published Instance and copies of the core's counters."""
from __future__ import annotations

import os
import time

from lb import __version__
from lb.addresses import host_port, ip_sort_key
from lb.instance import Instance
from lb.plan import FORWARD, sp_name

SP_COUNTERS = ("connections", "bytes_in", "bytes_out", "connect_failures", "retries", "no_endpoint_resets")
EP_COUNTERS = ("connections", "bytes_in", "bytes_out", "connect_failures")
CONNECTION_FIELDS = ("client_ip", "client_port", "frontend_ip", "frontend_port", "backend_ip", "backend_port",
                     "state", "bytes_in", "bytes_out", "started_unix", "last_activity_unix", "sp_id", "ep_id")


def health(instance: Instance) -> dict:
    last = dict(instance.last_reload)
    return {"status": "ok", "version": __version__, "pid": os.getpid(), "generation": instance.generation,
            "uptime_seconds": round(time.time() - instance.started, 3),
            "last_reload_time": last.get("time"), "last_reload": last}


def _real_servers(instance: Instance, vs, ep_stats: dict) -> list[dict]:
    """The plan's endpoints, plus endpoints gone from the table whose connections still
    drain (weight 0, as ipvs shows a real server being removed)."""
    rows = [(r.ep_id, r.ip, r.port, r.weight) for r in vs.real_servers]
    present = {r[0] for r in rows}
    for ep_id, st in ep_stats.items():
        if ep_id in present or not (st.get("active") or st.get("inactive")):
            continue
        key = instance.ids.key_of("ep", ep_id)
        if key is not None and key[0] == vs.sp_id:
            rows.append((ep_id, key[1], key[2], 0))
    out = []
    for ep_id, ip, port, weight in sorted(rows, key=lambda r: (ip_sort_key(r[1]), r[2])):
        st = ep_stats.get(ep_id, {})
        out.append({"address": ip, "port": port, "forward": FORWARD, "weight": weight,
                    "active": st.get("active", 0), "inactive": st.get("inactive", 0),
                    **{c: st.get(c, 0) for c in EP_COUNTERS}})
    return out


def _external_names(instance: Instance) -> dict:
    """The names ExternalName Services forward to: addresses in force, errors, failed refreshes."""
    names = instance.names
    if names is None:
        return {"names": {}, "refresh_failures": 0}
    return {"names": {name: {"addresses": list(names.addresses(name) or ()), "error": names.error(name)}
                      for name in sorted(names.watched())},
            "refresh_failures": names.failures}


def status(instance: Instance, connections: bool = False) -> dict:
    stats = instance.stats()
    sp_stats = stats.get("service_ports", {})
    ep_stats = stats.get("endpoints", {})
    vss = []
    plan = instance.plan
    virtual_servers = plan.virtual_servers.values() if plan else []
    for vs in sorted(virtual_servers, key=lambda v: (v.protocol, ip_sort_key(v.ip), v.port)):
        st = sp_stats.get(vs.sp_id, {})
        error = instance.error_of(vs)
        vss.append({"protocol": vs.protocol, "address": vs.ip, "port": vs.port, "kind": vs.kind,
                    "service": vs.service, "port_name": vs.port_name, "scheduler": vs.scheduler,
                    "persistent": vs.persistence, "serving": error is None, "error": error,
                    **{c: st.get(c, 0) for c in SP_COUNTERS},
                    "real_servers": _real_servers(instance, vs, ep_stats)})
    snap = instance.snapshot
    doc = {
        "version": __version__, "pid": os.getpid(), "started": instance.started,
        "generation": instance.generation, "workers": stats.get("workers"),
        "idle_timeout": instance.settings.tcp_idle_timeout,
        "active_connections": stats.get("active_connections", 0),
        "accept_errors": stats.get("accept_errors", {}), "pipes": stats.get("pipes", {}),
        "reloads": instance.reloads, "reload_errors": instance.reload_errors,
        "last_reload": dict(instance.last_reload),
        "virtual_servers": vss,
        "not_served": [{"frontend": n.frontend, "service": n.service, "reason": n.reason}
                       for n in (plan.not_served if plan else [])],
        "external_names": _external_names(instance),
        "diagnostics": [str(d) for d in (snap.diagnostics if snap else ())],
        "rejected_files": [{"path": r.path, "errors": [str(d) for d in r.errors]} for r in instance.rejected],
    }
    if connections:
        doc["connections"] = connection_list(instance)
    return doc


def connection_list(instance: Instance) -> list[dict]:
    rows = instance.connections()
    now = time.time()
    idle = instance.settings.tcp_idle_timeout
    out = []
    for row in rows:
        c = dict(zip(CONNECTION_FIELDS, row))
        key = instance.ids.key_of("sp", c.get("sp_id"))
        c["protocol"] = key[2] if key else "TCP"
        c["service"] = sp_name(*key[:3]) if key else None
        c["expire_seconds"] = max(0, int(c.get("last_activity_unix", now) + idle - now))
        out.append(c)
    out.sort(key=lambda c: (c.get("started_unix", 0), c.get("client_port", 0)))
    return out


# -- Prometheus text format ----------------------------------------------------------
def _esc(v) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**kv) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in kv.items()) + "}" if kv else ""


class _Text:
    def __init__(self):
        self.lines: list[str] = []
        self.declared: set[str] = set()

    def add(self, name: str, kind: str, help_: str, value, **labels) -> None:
        if name not in self.declared:
            self.declared.add(name)
            self.lines.append(f"# HELP {name} {help_}")
            self.lines.append(f"# TYPE {name} {kind}")
        self.lines.append(f"{name}{_labels(**labels)} {value}")


def metrics(instance: Instance) -> str:
    stats = instance.stats()
    t = _Text()
    sp_stats = stats.get("service_ports", {})
    ep_stats = stats.get("endpoints", {})
    for sp_id, st in sorted(sp_stats.items()):
        key = instance.ids.key_of("sp", sp_id)
        if key is None:
            continue
        lab = {"service": key[0], "port": key[1], "protocol": key[2]}
        t.add("lb_service_port_connections_total", "counter", "Connections accepted per service port.",
              st.get("connections", 0), **lab)
        for direction, field in (("in", "bytes_in"), ("out", "bytes_out")):
            t.add("lb_service_port_bytes_total", "counter",
                  "Bytes per service port; in = client to backend, out = backend to client.",
                  st.get(field, 0), **lab, direction=direction)
        t.add("lb_service_port_connect_failures_total", "counter", "Backend connects that failed or timed out.",
              st.get("connect_failures", 0), **lab)
        t.add("lb_service_port_retries_total", "counter", "Connections retried on another endpoint.",
              st.get("retries", 0), **lab)
        t.add("lb_service_port_no_endpoint_resets_total", "counter",
              "Connections reset because the service port had no usable endpoint.",
              st.get("no_endpoint_resets", 0), **lab)
    for ep_id, st in sorted(ep_stats.items()):
        key = instance.ids.key_of("ep", ep_id)
        sp = instance.ids.key_of("sp", key[0]) if key else None
        if key is None or sp is None:
            continue
        ep = host_port(key[1], key[2])
        lab = {"service": sp[0], "port": sp[1], "protocol": sp[2], "endpoint": ep}
        t.add("lb_endpoint_connections_total", "counter", "Connections sent to an endpoint.",
              st.get("connections", 0), **lab)
        for direction, field in (("in", "bytes_in"), ("out", "bytes_out")):
            t.add("lb_endpoint_bytes_total", "counter", "Bytes per endpoint; in = client to backend.",
                  st.get(field, 0), **lab, direction=direction)
        t.add("lb_endpoint_connect_failures_total", "counter", "Connects to an endpoint that failed.",
              st.get("connect_failures", 0), **lab)
        t.add("lb_endpoint_active_connections", "gauge", "Established connections (ipvs ActiveConn).",
              st.get("active", 0), **lab)
        t.add("lb_endpoint_inactive_connections", "gauge",
              "Connecting or closing connections (ipvs InActConn).", st.get("inactive", 0), **lab)
    t.add("lb_active_connections", "gauge", "Connections the core tracks now.", stats.get("active_connections", 0))
    for reason, n in sorted(stats.get("accept_errors", {}).items()):
        t.add("lb_accept_errors_total", "counter", "accept() failures by reason.", n, reason=reason)
    t.add("lb_no_frontend_resets_total", "counter",
          "Connections to a wildcard listener's local address that is no frontend, reset.",
          stats.get("no_frontend_resets", 0))
    t.add("lb_backend_socket_emfile_total", "counter",
          "Backend socket() calls that hit the descriptor limit (the client waited).",
          stats.get("backend_socket_emfile", 0))
    for worker, n in enumerate(stats.get("accepted_per_worker", [])):
        t.add("lb_worker_accepted_connections_total", "counter",
              "Connections each worker accepted (how evenly the listeners spread them).", n, worker=worker)
    for state, n in sorted(stats.get("pipes", {}).items()):
        t.add("lb_pipes", "gauge", "splice pipes by state.", n, state=state)
    plan = instance.plan
    serving = sum(1 for vs in (plan.virtual_servers.values() if plan else []) if instance.error_of(vs) is None)
    total = len(plan.virtual_servers) if plan else 0
    t.add("lb_virtual_servers", "gauge", "Virtual servers by state.", serving, state="serving")
    t.add("lb_virtual_servers", "gauge", "Virtual servers by state.", total - serving, state="failed")
    t.add("lb_virtual_servers", "gauge", "Virtual servers by state.", len(plan.not_served) if plan else 0,
          state="not_served")
    t.add("lb_reloads_total", "counter", "Reloads applied (the start counts as one).", instance.reloads + 1)
    t.add("lb_reload_errors_total", "counter", "Files or reloads rejected; the last good config kept serving.",
          instance.reload_errors)
    t.add("lb_config_generation", "gauge", "Generation of the table the core serves.", instance.generation)
    if instance.last_reload:
        t.add("lb_last_reload_timestamp_seconds", "gauge", "Unix time of the last applied reload.",
              round(instance.last_reload["time"], 3))
    diags = instance.snapshot.diagnostics if instance.snapshot else ()
    t.add("lb_manifest_errors", "gauge", "Errors in the manifests in force.",
          sum(1 for d in diags if d.severity == "error"))
    return "\n".join(t.lines) + "\n"
