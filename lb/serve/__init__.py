"""Making a Plan true: the core's table, the listening sockets, the VIPs.

Serving.apply(plan) never stops workers and never raises for what the kernel
refuses: a listener that cannot bind or a VIP that cannot be added is recorded with
what the user can do about it (`listen_errors`, `vips.errors`) and reported by
`error_of(virtual server)`; the rest serves.
"""
from __future__ import annotations

import errno

from lb.addresses import host_port, is_loopback, is_wildcard
from lb.config.allocate import parse_cluster_ip_range
from lb.plan import ListenerKey, Plan, VirtualServer
from lb.serve.core import Core
from lb.serve.listeners import ListenError, ListenerSet
from lb.serve.vips import Vips, node_addresses
from lb.settings import RunSettings

__all__ = ["Serving", "node_addresses"]


class Serving:
    def __init__(self, settings: RunSettings, log, core=None, route_vips: bool | None = None):
        self.log = log
        self.core = Core(settings, core)
        self.listeners = ListenerSet(self.core.raw, self.core.workers)
        ranges = parse_cluster_ip_range(settings.service_cluster_ip_range)
        self.vips = Vips(settings.dummy_interface, settings.drain_timeout, ranges, log, route_vips)
        self.listen_errors: dict[ListenerKey, str] = {}    # listener key -> what the user can do
        self.busy_wildcards: set[ListenerKey] = set()      # wildcards another program's socket blocks
        self.plan: Plan | None = None

    @property
    def shares_vip_ports(self) -> bool:
        """VIPs are made local by routes: one listener per (port, protocol) serves them all."""
        return self.vips.routes_vips

    def apply(self, plan: Plan) -> int:
        """Makes the core, listeners and VIPs serve plan; returns the table's generation."""
        self.vips.ensure(plan.addresses)
        generation = self.core.apply(plan)
        for key in list(self.listeners.active):
            if key not in plan.listeners:
                self.listeners.close(key)        # live connections continue in the core
                self.log("unlisten", address=f"{host_port(key[0], key[1])}/{key[2]}")
        for key, lid in plan.listeners.items():
            if key in self.listeners.active or key[0] in self.vips.errors:
                continue
            self._open(key, lid)
        for key in list(self.listen_errors):
            if key not in plan.listeners:
                del self.listen_errors[key]
        self.vips.release_unwanted()
        self.plan = plan
        return generation

    def _open(self, key: ListenerKey, lid: int) -> None:
        freebind = not is_wildcard(key[0]) and not is_loopback(key[0])
        try:
            self.listeners.open(key, lid, freebind=freebind)
            self.listen_errors.pop(key, None)
        except ListenError as e:
            if e.errno == errno.EADDRINUSE and is_wildcard(key[0]):
                self.busy_wildcards.add(key)
            if self.listen_errors.get(key) != e.hint:
                self.log("listen_failed", level="error", address=f"{e.address}/{key[2]}", reason=e.reason,
                         hint=e.hint)
            self.listen_errors[key] = e.hint

    def error_of(self, vs: VirtualServer) -> str | None:
        """None when vs serves, else why not."""
        if vs.ip in self.vips.errors:
            return self.vips.errors[vs.ip]
        return self.listen_errors.get(vs.listener)

    async def shutdown(self, drain_timeout: float) -> None:
        """Stop accepting (the core unhooks every listener at once), let connections finish
        up to drain_timeout."""
        await self.core.stop(drain_timeout)
        self.listeners.active.clear()

    def cleanup(self) -> None:
        self.vips.cleanup()
