"""The running instance (`lb run`): for each new desired state, plan, serve, publish.

    sources (files, SIGHUP) -> Snapshot -> lb.plan -> lb.serve.apply -> Instance
    ExternalName targets' addresses (lb.sources.externalname) -> lb.plan -> ...

A name's new addresses go through the same plan and apply as a reload: only the Services
forwarding to that name are planned again, and live connections stay.

Also the admin endpoint, signals and the drain. The event loop is uvloop's; nothing
here runs per connection (the core's workers do that without the GIL).
"""
from __future__ import annotations

import asyncio
import errno
import gc
from dataclasses import replace
import os
import resource
import signal
import sys
import time
from types import MappingProxyType

from lb import __version__, kernel
from lb.addresses import host_port, parse_host_port
from lb.config.loader import paused_gc
from lb.config.loader import STDIN
from lb.eventlog import EventLog
from lb.instance import Instance
from lb.memory import release_free_memory
from lb.plan import IdMaps, Plan, Planner
from lb.serve import Serving, node_addresses
from lb.settings import DEFAULT_METRICS_PORT, RunSettings
from lb.snapshot import Snapshot
from lb.snapshot.controllers import SELECTS_NO_POD
from lb.sources.files import ManifestFiles
from lb.sources.watch import reload_on_sighup, watch_manifests


LISTEN_LOG_LIMIT = 100


class Control:
    """One lb instance: the sources it reads, the Serving it drives, the Instance it publishes."""

    def __init__(self, settings: RunSettings, log: EventLog | None = None, core=None):
        self.settings = settings
        self.log = log or EventLog()
        self.files = ManifestFiles(settings)
        self.ids = IdMaps()
        self.node_addresses = node_addresses(settings.nodeport_addresses)
        self.planner: Planner | None = None
        self.serving: Serving | None = None
        self.instance = Instance(settings, started=time.time())
        self.admin = None
        self.admin_address = None
        self._core = core
        self._reload_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._served: dict = {}          # virtual server key -> service, as logged
        self._told_not_served: set = set()
        self.dns = None    # lb.dns.cluster.ClusterDns with --dns-bind-address
        self.names = None  # lb.sources.externalname.NameResolver: ExternalName targets
        self._names_pending = False
        self._told_no_pods: set = set()

    # -- applying --------------------------------------------------------------
    def apply(self, snapshot: Snapshot) -> dict:
        """Make the core, listeners and VIPs serve snapshot; never stops workers."""
        with paused_gc():
            summary = self._apply(snapshot)
        # What serves now lives as long as it serves: out of the cyclic GC's way, or every
        # collection would walk 10,000 Services' objects again (they hold no cycles).
        gc.freeze()
        release_free_memory()
        return summary

    def _apply(self, snapshot: Snapshot) -> dict:
        plan = self.planner.update(snapshot)
        generation = self.serving.apply(plan)
        if self.serving.busy_wildcards and self.planner.avoid_wildcards(self.serving.busy_wildcards):
            # another program holds an address on a shared port: those VIPs get a socket each
            self.log("wildcard_busy", level="warning", ports=",".join(
                f"{host_port(ip, port)}/{proto}" for ip, port, proto in sorted(self.serving.busy_wildcards)),
                note="VIPs on these ports listen one socket each")
            first = plan.summary
            plan = self.planner.update(snapshot)
            generation = self.serving.apply(plan)
            plan = replace(plan, summary={**first, "virtual_servers": plan.summary["virtual_servers"]})
        self.serving.busy_wildcards.clear()
        self._publish(snapshot=snapshot, plan=plan, generation=generation)
        self._watch_names()
        if self.dns is not None:
            self.dns.update(snapshot)
        self._log_frontends(plan)
        self._log_selectors_without_pods(snapshot)
        return dict(plan.summary)

    def _publish(self, **changes) -> None:
        i = self.instance
        fields = dict(settings=i.settings, started=i.started, core=self.serving.core if self.serving else None,
                      ids=self.ids, snapshot=i.snapshot, plan=i.plan, generation=i.generation,
                      rejected=i.rejected, reloads=i.reloads, reload_errors=i.reload_errors,
                      last_reload=i.last_reload, names=self.names)
        fields.update(changes)
        if self.serving is not None:
            fields["listen_errors"] = MappingProxyType(dict(self.serving.listen_errors))
            fields["vip_errors"] = MappingProxyType(dict(self.serving.vips.errors))
        self.instance = Instance(**fields)

    def _log_frontends(self, plan: Plan) -> None:
        """Logs each virtual server once when it starts serving (only those this plan touched
        are looked at); past LISTEN_LOG_LIMIT at once, one line counts them instead."""
        started = []
        for key in plan.touched:
            vs = plan.virtual_servers.get(key)
            if vs is None or self.instance.error_of(vs) is not None:
                self._served.pop(key, None)
            elif self._served.get(key) != vs.service:
                self._served[key] = vs.service
                started.append(vs)
        if len(started) > LISTEN_LOG_LIMIT:
            self.log("listen", virtual_servers=len(started), note="one line each up to "
                     f"{LISTEN_LOG_LIMIT}; lb status lists them")
            started = []
        for vs in started:
            self.log("listen", frontend=f"{vs.address}/{vs.protocol}", service=vs.service, kind=vs.kind,
                     endpoints=len(vs.real_servers))
        told = set()
        for ns in plan.not_served:
            told.add(ns)
            if ns not in self._told_not_served:
                self.log("not_served", level="warning", frontend=ns.frontend, service=ns.service, reason=ns.reason)
        self._told_not_served = told

    def _log_selectors_without_pods(self, snapshot: Snapshot) -> None:
        """Once per Service whose selector finds no Pod: lb runs no Deployments to make them."""
        told = set()
        for d in snapshot.diagnostics:
            if d.reason == SELECTS_NO_POD:
                key = (d.namespace, d.name, d.message)
                told.add(key)
                if key not in self._told_no_pods:
                    self.log("selects_no_pod", level="warning", service=f"{d.namespace}/{d.name}",
                             source=f"{d.path}:{d.line}", detail=d.message)
        self._told_no_pods = told

    # -- ExternalName targets ----------------------------------------------------
    def _name_addresses(self, name: str):
        if self.names is None:
            return None, None
        return self.names.addresses(name), self.names.error(name)

    def _watch_names(self) -> None:
        """Keep resolved the names ExternalName Services forward to; the resolver (and
        dnspython) is made with the first such Service."""
        wanted = self.planner.external_names()
        if self.names is None and wanted:
            from lb.sources.externalname import NameResolver
            self.names = NameResolver(self._name_changed, on_error=self._name_changed, log=self.log,
                                      hosts_path=self.settings.hosts_file,
                                      nameservers=self.settings.resolvers or None)
        if self.names is not None:
            self.names.watch(wanted)

    def _name_changed(self, name: str, *_detail) -> None:
        """A name's addresses changed (or it failed anew): re-plan what forwards to it, once
        per loop turn however many names changed in it."""
        if self.planner.names_changed([name]) and not self._names_pending:
            self._names_pending = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._apply_names()))

    async def _apply_names(self) -> None:
        async with self._reload_lock:
            self._names_pending = False
            if self._stop.is_set():
                return
            began = time.time()
            try:
                summary = self.apply(self.instance.snapshot)
            except Exception as e:   # a bug here must not stop what serves
                self._publish(reload_errors=self.instance.reload_errors + 1)
                self.log("reload_failed", level="error", trigger="names", error=repr(e))
                return
            self.log("names_applied", generation=self.instance.generation,
                     duration_ms=int((time.time() - began) * 1000), endpoints_added=summary.get("endpoints_added", 0),
                     endpoints_removed=summary.get("endpoints_removed", 0))

    # -- reloading -------------------------------------------------------------
    async def reload(self, trigger: str, hold: frozenset[str] = frozenset()) -> None:
        """Applies what changed in the files (hold: files not to read yet, see sources/watch)."""
        async with self._reload_lock:
            if self._stop.is_set():
                return
            loop = asyncio.get_running_loop()
            began = time.time()
            i = self.instance
            try:
                snap, rejected = await loop.run_in_executor(None, self.files.load, i.snapshot.generation + 1, hold)
            except Exception as e:   # a bug in loading must not stop what serves
                self._publish(reload_errors=i.reload_errors + 1)
                self.log("reload_failed", level="error", trigger=trigger, error=repr(e))
                return
            if snap is i.snapshot and not rejected:
                if trigger == "sighup":     # asked for by hand: say it was done
                    self.log("reload", trigger=trigger, generation=i.generation, changed="nothing")
                return                  # nothing changed (a watcher's first tick)
            for r in rejected:
                for d in r.errors:
                    self.log("reload_rejected", level="error", file=r.path, error=str(d),
                             kept="last good content")
            self._publish(rejected=tuple(rejected), reload_errors=i.reload_errors + len(rejected))
            try:
                summary = self.apply(snap)
            except Exception as e:
                self._publish(reload_errors=self.instance.reload_errors + 1)
                self.log("reload_failed", level="error", trigger=trigger, error=repr(e))
                return
            self._publish(reloads=self.instance.reloads + 1)
            self._note_reload(trigger, began, summary, rejected)

    def _note_reload(self, trigger, began, summary, rejected) -> None:
        generation = self.instance.generation
        last = {"time": time.time(), "trigger": trigger, "generation": generation,
                "duration_seconds": round(time.time() - began, 4),
                "rejected_files": [r.path for r in rejected], **summary}
        self._publish(last_reload=MappingProxyType(last))
        self.log("reload", trigger=trigger, generation=generation, duration_ms=int((time.time() - began) * 1000),
                 rejected_files=len(rejected), **summary)

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> bool:
        """Load, bind, start the core. False when there is nothing at all to serve."""
        self._log_environment()
        began = time.time()
        snap, rejected = self.files.load(1)
        if STDIN in self.settings.files:
            self.log("stdin", objects=len(self.files.stdin.objects),
                     note="read once at start; file changes and SIGHUP reload the files, not stdin")
        for d in snap.diagnostics:
            print(str(d), file=sys.stderr)
        if snap.errors and not snap.services:
            self.log("nothing_to_serve", level="error", errors=len(snap.errors),
                     hint="fix the manifests above (lb validate -f ...)")
            return False
        if not snap.services:
            self.log("no_services", level="warning", files=len(snap.files), hint="waiting for manifests")
        self.serving = Serving(self.settings, self.log, self._core)
        self.planner = Planner(self.ids, self.node_addresses, self.serving.shares_vip_ports,
                               self.settings.ipvs_scheduler, names=self._name_addresses)
        self._publish(rejected=tuple(rejected))
        summary = self.apply(snap)
        if self.settings.dns_bind_addresses:
            from lb.dns.cluster import start_cluster_dns   # here: dnspython loads only for lb run with DNS
            self.dns = await start_cluster_dns(self.settings, snap, self.log, self.node_addresses)  # ValueError: exit 2
        self.serving.core.start()
        self._note_reload("start", began, summary, rejected)
        self.log("started", version=__version__, workers=self.serving.core.workers, pid=os.getpid(),
                 generation=self.instance.generation)
        return True

    def _log_environment(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
                soft = hard
            except (ValueError, OSError):
                pass
        self.log("limits", nofile_soft=soft, nofile_hard=hard)
        if not kernel.ipvs_available():
            self.log("ipvs", available="no", note=kernel.IPVS_MISSING)
        else:
            self.log("ipvs", available="yes", note="lb does not use IPVS")

    async def start_admin(self) -> None:
        from lb.admin.server import AdminServer

        host, port = parse_host_port(self.settings.metrics_bind_address, DEFAULT_METRICS_PORT)
        self.admin = AdminServer(lambda: self.instance)
        try:
            self.admin_address = await self.admin.start(host, port)
            self.log("admin_listen", address=host_port(*self.admin_address), paths="/metrics,/healthz,/status")
        except OSError as e:
            hint = (f"another process holds {host_port(host, port)}; pass --metrics-bind-address with a free port"
                    if e.errno == errno.EADDRINUSE else e.strerror)
            self.log("admin_failed", level="error", address=host_port(host, port), reason=errno.errorcode.get(e.errno),
                     hint=hint)
            self.admin = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            if not await self.start():
                return 1
            await self.start_admin()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_stop_signal, sig)
            reload_on_sighup(self.reload)
            watcher = asyncio.ensure_future(watch_manifests(self.settings.files, self.reload, self._stop, self.log))
            await self._stop.wait()
            await watcher
            await self.shutdown()
            return 0
        finally:
            if self.serving is not None:
                self.serving.cleanup()

    def _on_stop_signal(self, sig) -> None:
        if self._stop.is_set():
            self.log("signal", signal=signal.Signals(sig).name, note="already stopping")
            return
        self.log("signal", signal=signal.Signals(sig).name, drain_timeout=self.settings.drain_timeout)
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        """Stop accepting, let connections finish up to --drain-timeout."""
        began = time.time()
        if self.serving is not None:
            active = self.serving.core.stats().get("active_connections", 0)
            self.log("draining", active_connections=active, timeout=self.settings.drain_timeout)
            await self.serving.shutdown(self.settings.drain_timeout)
        if self.admin is not None:
            await self.admin.close()
        if self.dns is not None:
            await self.dns.close()
        if self.names is not None:
            await self.names.close()
        self.log("stopped", drained_seconds=round(time.time() - began, 3))


def run(settings: RunSettings) -> int:
    """`lb run`: serve until SIGTERM/SIGINT. 0 after a clean drain, 1 when nothing loads."""
    import uvloop

    try:
        return uvloop.run(Control(settings).run())
    except ValueError as e:   # bad --service-cluster-ip-range / --service-node-port-range
        print(f"lb run: {e}", file=sys.stderr)
        return 2
