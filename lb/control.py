"""The running instance (`lb run`): load the manifests, bind the listeners, drive
the core, reload on change or SIGHUP, serve the admin endpoint, drain on SIGTERM.

The event loop is uvloop's; nothing here runs per connection (the core's workers
do that without the GIL). Logs are one line per event, key=value, on stderr.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import resource
import signal
import sys
import time

from lb import __version__
from lb import kernel
from lb.addresses import host_port
from lb.interfaces import DummyInterface, InterfaceError, has_net_admin, is_local, local_addresses
from lb.listeners import WILDCARD_V4, WILDCARD_V6, ListenError, ListenerSet, is_loopback, is_wildcard
from lb.reload import FileBook, IdMaps, Plan, build_plan, diff_summary, errors_of, manifest_files_changed

WATCH_DEBOUNCE_MS = 300


class EventLog:
    """`ts=... level=info event=listen frontend=10.97.97.97:80/TCP service=study/web`"""

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr

    def __call__(self, event: str, level: str = "info", **fields) -> None:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"
        parts = [f"ts={ts}", f"level={level}", f"event={event}"]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items() if v is not None]
        try:
            self.stream.write(" ".join(parts) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _quote(v) -> str:
    s = str(v)
    if s == "" or any(c in s for c in ' "=\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


def parse_host_port(text: str, default_port: int = 10249) -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT or :PORT (every IPv4 address)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    host = host.strip("[]") or WILDCARD_V4
    return host, int(port)


def nodeport_ips(specs: list[str]) -> tuple[str, ...]:
    """--nodeport-addresses (IPs or CIDRs, repeatable or comma-separated) -> addresses to
    listen on. Empty: both wildcards. 0.0.0.0/0 and ::/0 mean the wildcard of that family;
    another CIDR means each local address inside it now."""
    items = [s.strip() for spec in specs for s in spec.split(",") if s.strip()]
    if not items:
        return (WILDCARD_V4, WILDCARD_V6)
    out: list[str] = []
    local = None
    for item in items:
        if "/" not in item:
            out.append(str(ipaddress.ip_address(item)))
            continue
        net = ipaddress.ip_network(item, strict=False)
        if net.prefixlen == 0:
            out.append(WILDCARD_V4 if net.version == 4 else WILDCARD_V6)
            continue
        local = local if local is not None else local_addresses()
        out += sorted(a for a in local if ipaddress.ip_address(a).version == net.version
                      and ipaddress.ip_address(a) in net)
    return tuple(dict.fromkeys(out))


class Control:
    """One lb instance: the core, its listeners and VIPs, and the Snapshot they serve."""

    def __init__(self, args, log: EventLog | None = None, core=None):
        self.args = args
        self.paths = list(args.files)
        self.log = log or EventLog()
        self.core = core
        self.ids = IdMaps()
        self.book = FileBook()
        self.snapshot = None
        self.plan: Plan | None = None
        self.listeners: ListenerSet | None = None
        self.listen_errors: dict[tuple, str] = {}    # listener key -> what the user can do
        self.vip_errors: dict[str, str] = {}          # address -> why it can't be served
        self.rejected: list = []                       # FileResults not applied, for /status
        self.dummy = DummyInterface(getattr(args, "dummy_interface", "lb0"))
        self.nodeport_ips = nodeport_ips(getattr(args, "nodeport_addresses", []) or [])
        self.started = time.time()
        self.reloads = 0
        self.reload_errors = 0
        self.last_reload: dict = {}
        self.generation = 0
        self.admin = None
        self.admin_address = None
        self._vip_timers: dict[str, asyncio.TimerHandle] = {}
        self._reload_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._served: set = set()
        self._told_not_served: set = set()
        self._told_fallback = False

    # -- loading ---------------------------------------------------------------
    def load(self, generation: int):
        """Read every file, keep last-good content for files that now fail, build a Snapshot.
        Returns (snapshot, rejected FileResults)."""
        from lb.config.loader import load_paths

        previous = dict(self.book.in_force)
        in_force, rejected = self.book.update(load_paths(self.paths))
        snap = self._build(in_force, generation)
        # Errors only found across files (a clusterIP or nodePort taken twice) show up in
        # the Snapshot: a changed file that brings a new one goes back to its last good.
        old_errors = {str(d) for d in self.snapshot.errors} if self.snapshot else set()
        reverted = False
        for path in sorted({d.path for d in snap.errors if str(d) not in old_errors}):
            old, new = previous.get(path), self.book.in_force.get(path)
            if old is not None and new is not old and not errors_of(old):
                self.book.revert(path, old)
                rejected.append(_with_errors(new, [d for d in snap.errors if d.path == path]))
                reverted = True
        if reverted:
            snap = self._build(list(self.book.in_force.values()), generation)
        return snap, rejected

    def _build(self, file_results, generation):
        from lb.config.pipeline import build_snapshot
        return build_snapshot(self.paths, self.args.service_cluster_ip_range, self.args.service_node_port_range,
                              generation=generation, file_results=file_results)

    # -- applying --------------------------------------------------------------
    def apply(self, snapshot) -> dict:
        """Make the core, listeners and VIPs serve snapshot; never stops workers."""
        plan = build_plan(snapshot, self.ids, self.nodeport_ips)
        self._ensure_addresses(plan)
        self.generation = self.core.apply(plan.table())
        for key in list(self.listeners.active):
            if key not in plan.listeners:
                self.listeners.close(key)        # live connections continue in the core
                self.log("unlisten", address=f"{host_port(key[0], key[1])}/{key[2]}")
        for key, lid in plan.listeners.items():
            if key in self.listeners.active or key[0] in self.vip_errors:
                continue
            self._open(key, lid)
        for key in list(self.listen_errors):
            if key not in plan.listeners:
                del self.listen_errors[key]
        self._release_addresses(plan)
        old, self.plan, self.snapshot = self.plan, plan, snapshot
        self._log_frontends(plan)
        return diff_summary(old, plan)

    def _open(self, key, lid) -> None:
        freebind = not is_wildcard(key[0]) and not is_loopback(key[0])
        try:
            self.listeners.open(key, lid, freebind=freebind)
            self.listen_errors.pop(key, None)
        except ListenError as e:
            if self.listen_errors.get(key) != e.hint:
                self.log("listen_failed", level="error", address=f"{e.address}/{key[2]}", reason=e.reason,
                         hint=e.hint)
            self.listen_errors[key] = e.hint

    def _ensure_addresses(self, plan: Plan) -> None:
        """Every cluster/external/LB IP must be local for the kernel to deliver to it."""
        for ip, services in plan.addresses.items():
            if ip in self._vip_timers:
                self._vip_timers.pop(ip).cancel()
            if is_loopback(ip) or ip in self.dummy.added:
                self.vip_errors.pop(ip, None)
                continue
            try:
                if is_local(ip):
                    self.vip_errors.pop(ip, None)
                    continue
            except OSError as e:
                self._vip_error(ip, services, f"cannot check {ip}: {e.strerror}")
                continue
            if not has_net_admin():
                self._vip_error(ip, services, f"{ip} is not a local address and lb lacks CAP_NET_ADMIN to add it "
                                f"to {self.dummy.name}; run lb as root or add it yourself "
                                f"(ip addr add {ip}/{128 if ':' in ip else 32} dev lo)")
                continue
            try:
                added = self.dummy.add(ip)
                if self.dummy.fallback_from and not self._told_fallback:
                    self._told_fallback = True
                    self.log("dummy_unsupported", level="warning", interface=self.dummy.fallback_from,
                             fallback=self.dummy.name, note="this kernel has no dummy links; VIPs go on lo")
                if added:
                    self.log("address_added", address=ip, interface=self.dummy.name)
                self.vip_errors.pop(ip, None)
            except InterfaceError as e:
                self._vip_error(ip, services, str(e))
        for ip in list(self.vip_errors):
            if ip not in plan.addresses:
                del self.vip_errors[ip]

    def _vip_error(self, ip: str, services: list[str], message: str) -> None:
        if self.vip_errors.get(ip) != message:
            self.log("address_failed", level="error", address=ip, service=",".join(services), hint=message)
        self.vip_errors[ip] = message

    def _release_addresses(self, plan: Plan) -> None:
        """A VIP no longer wanted leaves lb0 after the drain timeout: its live connections
        would die the moment the kernel stops accepting packets for it."""
        loop = asyncio.get_running_loop()
        for ip in list(self.dummy.added):
            if ip not in plan.addresses and ip not in self._vip_timers:
                self._vip_timers[ip] = loop.call_later(self.args.drain_timeout, self._remove_address, ip)

    def _remove_address(self, ip: str) -> None:
        self._vip_timers.pop(ip, None)
        if self.plan is None or ip not in self.plan.addresses:
            self.dummy.remove(ip)
            self.log("address_removed", address=ip, interface=self.dummy.name)

    def serving(self, vs) -> str | None:
        """None when vs serves, else why not."""
        if vs.ip in self.vip_errors:
            return self.vip_errors[vs.ip]
        return self.listen_errors.get(vs.listener)

    def _log_frontends(self, plan: Plan) -> None:
        served = set()
        for vs in plan.virtual_servers:
            key = (vs.protocol, vs.ip, vs.port, vs.service)
            if self.serving(vs) is None:
                served.add(key)
                if key not in self._served:
                    self.log("listen", frontend=f"{vs.address}/{vs.protocol}", service=vs.service, kind=vs.kind,
                             endpoints=len(vs.real_servers))
        self._served = served
        told = set()
        for ns in plan.not_served:
            told.add(ns)
            if ns not in self._told_not_served:
                self.log("not_served", level="warning", frontend=ns.frontend, service=ns.service, reason=ns.reason)
        self._told_not_served = told

    # -- reloading -------------------------------------------------------------
    async def reload(self, trigger: str) -> None:
        async with self._reload_lock:
            if self._stop.is_set():
                return
            loop = asyncio.get_running_loop()
            began = time.time()
            try:
                snap, rejected = await loop.run_in_executor(None, self.load, self.snapshot.generation + 1)
            except Exception as e:   # a bug in loading must not stop what serves
                self.reload_errors += 1
                self.log("reload_failed", level="error", trigger=trigger, error=repr(e))
                return
            for r in rejected:
                self.reload_errors += 1
                for d in errors_of(r):
                    self.log("reload_rejected", level="error", file=r.path, error=str(d),
                             kept="last good content")
            self.rejected = rejected
            try:
                summary = self.apply(snap)
            except Exception as e:
                self.reload_errors += 1
                self.log("reload_failed", level="error", trigger=trigger, error=repr(e))
                return
            self.reloads += 1
            self._note_reload(trigger, began, summary, rejected)

    def _note_reload(self, trigger, began, summary, rejected) -> None:
        self.last_reload = {"time": time.time(), "trigger": trigger, "generation": self.generation,
                            "duration_seconds": round(time.time() - began, 4),
                            "rejected_files": [r.path for r in rejected], **summary}
        self.log("reload", trigger=trigger, generation=self.generation, duration_ms=int((time.time() - began) * 1000),
                 rejected_files=len(rejected), **summary)

    async def _watch(self) -> None:
        """Reload when a manifest changes. Folders are watched recursively; a file is
        watched through its folder (editors replace files by rename), not recursively,
        so `-f /etc/x.yaml` doesn't watch all of /etc's subtree."""
        try:
            from watchfiles import awatch
        except ImportError:
            self.log("watch_unavailable", level="warning", hint="install watchfiles; SIGHUP still reloads")
            return
        folders = sorted({os.path.abspath(p) for p in self.paths if os.path.isdir(p)})
        parents = sorted({os.path.dirname(os.path.abspath(p)) for p in self.paths if not os.path.isdir(p)
                          and os.path.isdir(os.path.dirname(os.path.abspath(p)))} - set(folders))

        async def watch(roots: list[str], recursive: bool) -> None:
            try:
                async for changes in awatch(*roots, stop_event=self._stop, debounce=WATCH_DEBOUNCE_MS, step=50,
                                            recursive=recursive):
                    if manifest_files_changed(changes, self.paths):
                        await self.reload("watch")
            except Exception as e:   # e.g. the inotify watch limit
                self.log("watch_failed", level="error", error=repr(e), hint="SIGHUP still reloads")

        await asyncio.gather(*(watch(roots, rec) for roots, rec in ((folders, True), (parents, False)) if roots))

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> bool:
        """Load, bind, start the core. False when there is nothing at all to serve."""
        import lb._core

        self._log_environment()
        began = time.time()
        snap, rejected = self.load(1)
        for d in snap.diagnostics:
            print(str(d), file=sys.stderr)
        if snap.errors and not snap.services:
            self.log("nothing_to_serve", level="error", errors=len(snap.errors),
                     hint="fix the manifests above (lb validate -f ...)")
            return False
        if not snap.services:
            self.log("no_services", level="warning", files=len(snap.files), hint="waiting for manifests")
        workers = self.args.workers or os.cpu_count() or 1
        if self.core is None:
            self.core = lb._core.Core(workers=workers, idle_timeout=self.args.tcp_idle_timeout)
        self.listeners = ListenerSet(self.core, workers)
        summary = self.apply(snap)
        self.core.start()
        self._note_reload("start", began, summary, rejected)
        self.log("started", version=__version__, workers=workers, pid=os.getpid(), generation=self.generation)
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

        host, port = parse_host_port(self.args.metrics_bind_address)
        self.admin = AdminServer(self)
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
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("sighup")))
            watcher = asyncio.ensure_future(self._watch())
            await self._stop.wait()
            await watcher
            await self.shutdown()
            return 0
        finally:
            self._cleanup_addresses()

    def _on_stop_signal(self, sig) -> None:
        if self._stop.is_set():
            self.log("signal", signal=signal.Signals(sig).name, note="already stopping")
            return
        self.log("signal", signal=signal.Signals(sig).name, drain_timeout=self.args.drain_timeout)
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        """Stop accepting, let connections finish up to --drain-timeout, release VIPs."""
        if self.listeners is not None:
            for key in list(self.listeners.active):
                self.listeners.close(key)
        began = time.time()
        active = self.core.stats().get("active_connections", 0) if self.core is not None else 0
        self.log("draining", active_connections=active, timeout=self.args.drain_timeout)
        if self.core is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.core.stop, self.args.drain_timeout)
        if self.admin is not None:
            await self.admin.close()
        self.log("stopped", drained_seconds=round(time.time() - began, 3))

    def _cleanup_addresses(self) -> None:
        for timer in self._vip_timers.values():
            timer.cancel()
        self._vip_timers.clear()
        try:
            removed = self.dummy.cleanup()
        except InterfaceError as e:
            self.log("address_cleanup_failed", level="error", hint=str(e))
            return
        for ip in removed:
            self.log("address_removed", address=ip, interface=self.dummy.name)


def _with_errors(result, errors):
    from dataclasses import replace
    return replace(result, diagnostics=tuple(result.diagnostics) + tuple(errors))


def run(args) -> int:
    """`lb run`: serve until SIGTERM/SIGINT. 0 after a clean drain, 1 when nothing loads."""
    import uvloop

    try:
        return uvloop.run(Control(args).run())
    except ValueError as e:   # bad --service-cluster-ip-range / --service-node-port-range
        print(f"lb run: {e}", file=sys.stderr)
        return 2
