"""Resolution of the names ExternalName Services point at, on the event loop, with TTLs.

NameResolver keeps a set of names resolved and tells a callback when a name's addresses
change (name -> tuple of addresses, sorted), and another when a name that never resolved
fails with a new reason (name -> error). Per name, in this order:
  * an IP literal is its own address, resolved once;
  * the hosts file (default /etc/hosts): a name found there keeps its addresses until the
    file changes (its modification time, size or inode; checked every hosts_poll seconds);
  * the nameservers (from a resolv.conf, or explicit ADDR[:PORT]s) through dnspython's
    async resolver: every A and AAAA answer, re-resolved after the answer's TTL clamped
    to MIN_TTL..MAX_TTL.
A refresh that fails (timeout, SERVFAIL, NXDOMAIN, no answer) keeps the last good
addresses in force, logs it and counts it (`failures`), and tries again after MIN_TTL.
A name that never resolved has an error (`error(name)`) and no addresses.
Nothing here blocks the loop: DNS is asynchronous and the hosts file is small and read
only when its stat changes.
"""
from __future__ import annotations

import asyncio
import os
from typing import Callable, Iterable

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from lb.addresses import ip_sort_key, is_ip, parse_host_port

MIN_TTL = 5
MAX_TTL = 300
TIMEOUT = 2.0                # a whole lookup, every nameserver included
HOSTS_POLL = 2.0
MAX_CONCURRENT = 16          # lookups in flight at once, whatever the number of names


class NameResolver:
    def __init__(self, on_change: Callable[[str, tuple[str, ...]], None], *,
                 on_error: Callable[[str, str], None] | None = None, hosts_path: str = "/etc/hosts",
                 resolv_conf: str = "/etc/resolv.conf", nameservers: Iterable[str] | None = None,
                 log=None, timeout: float = TIMEOUT, hosts_poll: float = HOSTS_POLL,
                 min_ttl: float = MIN_TTL, max_ttl: float = MAX_TTL):
        self.on_change = on_change
        self.on_error = on_error or (lambda _name, _error: None)
        self.hosts_path = hosts_path
        self.log = log or (lambda *a, **k: None)
        self.min_ttl, self.max_ttl, self.hosts_poll = min_ttl, max_ttl, hosts_poll
        self.resolver = _resolver(resolv_conf, nameservers, timeout)
        self.failures = 0
        self._addresses: dict[str, tuple[str, ...]] = {}
        self._errors: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._hosts: dict[str, tuple[str, ...]] = {}
        self._hosts_stat = None
        self._hosts_task: asyncio.Task | None = None
        self._limit = asyncio.Semaphore(MAX_CONCURRENT)

    # -- what callers use ----------------------------------------------------------------------
    def watch(self, names: Iterable[str]) -> None:
        """Keep exactly these names resolved (from a running event loop)."""
        wanted = {_normal(n) for n in names if n}
        for name in set(self._tasks) - wanted:
            self._tasks.pop(name).cancel()
            self._wake.pop(name, None)
            self._addresses.pop(name, None)
            self._errors.pop(name, None)
        if self._hosts_task is None:
            self._read_hosts()
            self._hosts_task = asyncio.ensure_future(self._watch_hosts())
        for name in wanted - set(self._tasks):
            self._wake[name] = asyncio.Event()
            self._tasks[name] = asyncio.ensure_future(self._keep(name))

    def watched(self) -> list[str]:
        return list(self._tasks)

    def addresses(self, name: str) -> tuple[str, ...] | None:
        """The addresses in force, None before the name ever resolved."""
        return self._addresses.get(_normal(name))

    def error(self, name: str) -> str | None:
        """Why a name has no addresses yet; None once it resolved."""
        name = _normal(name)
        return None if name in self._addresses else self._errors.get(name)

    async def close(self) -> None:
        tasks = list(self._tasks.values()) + ([self._hosts_task] if self._hosts_task else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._hosts_task = None

    # -- one name ---------------------------------------------------------------------------------
    async def _keep(self, name: str) -> None:
        wake = self._wake[name]
        while True:
            wake.clear()        # before the lookup: a hosts change during it wakes the next wait
            wait = await self._refresh(name)
            if wait is None:
                return          # an IP literal: nothing to refresh
            try:
                await asyncio.wait_for(wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def _refresh(self, name: str) -> float | None:
        """Resolve name once; the seconds until the next refresh (None: never)."""
        if is_ip(name):
            self._set(name, (name,))
            return None
        if name in self._hosts:
            self._set(name, self._hosts[name])
            return self.max_ttl          # the hosts watcher wakes the name when the file changes
        async with self._limit:
            addresses, ttl, err = await self._lookup(name)
        if addresses:
            self._set(name, addresses)
            return min(self.max_ttl, max(self.min_ttl, ttl))
        new_error = self._errors.get(name) != err
        self._errors[name] = err
        if name in self._addresses:
            self.failures += 1
            self.log("externalname_refresh_failed", level="warning", name=name, error=err,
                     kept=",".join(self._addresses[name]))
        elif new_error:
            self.log("externalname_unresolved", level="error", name=name, error=err)
            self.on_error(name, err)
        return self.min_ttl

    async def _lookup(self, name: str) -> tuple[tuple[str, ...], float, str]:
        """(addresses, smallest TTL, error) from A and AAAA, asked at once."""
        asked = (self.resolver.resolve(name, t, search=False) for t in (dns.rdatatype.A, dns.rdatatype.AAAA))
        results = await asyncio.gather(*asked, return_exceptions=True)
        addresses, ttls, errors = [], [], []
        for r in results:
            if isinstance(r, BaseException):
                if not isinstance(r, dns.resolver.NoAnswer):
                    errors.append(_describe(r))
                continue
            ttls.append(r.rrset.ttl)
            addresses.extend(rd.address for rd in r.rrset)
        ordered = tuple(sorted(set(addresses), key=ip_sort_key))
        error = "; ".join(dict.fromkeys(errors)) or "no A or AAAA records"
        return ordered, (min(ttls) if ttls else self.min_ttl), error

    def _set(self, name: str, addresses: tuple[str, ...]) -> None:
        self._errors.pop(name, None)
        if self._addresses.get(name) != addresses:
            self._addresses[name] = addresses
            self.on_change(name, addresses)

    # -- the hosts file ---------------------------------------------------------------------------
    async def _watch_hosts(self) -> None:
        while True:
            await asyncio.sleep(self.hosts_poll)
            if self._read_hosts():
                for event in self._wake.values():
                    event.set()

    def _read_hosts(self) -> bool:
        """Re-read the hosts file when its stat changed; True when it did."""
        try:
            st = os.stat(self.hosts_path)
            stat = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stat = None
        if stat == self._hosts_stat:
            return False
        self._hosts_stat = stat
        self._hosts = read_hosts(self.hosts_path) if stat else {}
        return True


def resolve_once(names: Iterable[str], *, hosts_path: str = "/etc/hosts", nameservers: Iterable[str] | None = None,
                 timeout: float = TIMEOUT) -> dict[str, tuple[tuple[str, ...] | None, str | None]]:
    """Each name's addresses (None: not resolved) and error, looked up once the way
    NameResolver does (for lb describe, which runs no event loop of its own)."""
    wanted = sorted({_normal(n) for n in names if n})
    if not wanted:
        return {}

    async def lookup() -> dict:
        resolver = NameResolver(lambda *_: None, hosts_path=hosts_path, nameservers=nameservers, timeout=timeout)
        resolver._read_hosts()
        await asyncio.gather(*(resolver._refresh(name) for name in wanted))
        return {name: (resolver.addresses(name), resolver.error(name)) for name in wanted}
    return asyncio.run(lookup())


def read_hosts(path: str) -> dict[str, tuple[str, ...]]:
    """name -> addresses of a hosts(5) file, names lower case, addresses in file order."""
    out: dict[str, list[str]] = {}
    try:
        with open(path) as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2 or not is_ip(fields[0].split("%")[0]):
                    continue
                for name in fields[1:]:
                    addrs = out.setdefault(_normal(name), [])
                    if fields[0] not in addrs:
                        addrs.append(fields[0])
    except OSError:
        pass
    return {name: tuple(addrs) for name, addrs in out.items()}


def _resolver(resolv_conf: str, nameservers: Iterable[str] | None, timeout: float) -> dns.asyncresolver.Resolver:
    if nameservers is None:
        try:
            resolver = dns.asyncresolver.Resolver(filename=resolv_conf)
        except dns.exception.DNSException:      # no file, or no nameserver in it
            resolver = dns.asyncresolver.Resolver(configure=False)
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        servers = []
        for text in nameservers:
            host, port = (text, 53) if is_ip(text) else parse_host_port(text, 53)
            servers.append(dns.nameserver.Do53Nameserver(host, port))
        resolver.nameservers = servers
    resolver.lifetime = timeout
    resolver.cache = None        # TTLs are this class's business
    return resolver


def _normal(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _describe(e: BaseException) -> str:
    if isinstance(e, dns.resolver.NXDOMAIN):
        return "NXDOMAIN"
    if isinstance(e, dns.resolver.LifetimeTimeout):
        return "timeout"
    if isinstance(e, dns.resolver.NoNameservers):
        return "no nameserver answered (SERVFAIL or refused)"
    return f"{type(e).__name__}: {e}"
