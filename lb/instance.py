"""Instance: what a running lb is serving, published by lb.control after every apply.

Frozen: the admin endpoint, `lb status` and lb demo read it and never reach into
Control. Counters are live: `core` answers copies of them (stats(), connections()).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from lb.plan import IdMaps, Plan, VirtualServer, VirtualServerKey
from lb.settings import RunSettings
from lb.snapshot import Snapshot


@dataclass(frozen=True)
class Instance:
    settings: RunSettings
    started: float                                   # unix time
    core: object = None                              # lb.serve.core.Core: stats(), connections()
    ids: IdMaps | None = None                        # names of the core's ids (append-only)
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    generation: int = 0
    listen_errors: Mapping = field(default_factory=lambda: MappingProxyType({}))   # listener key -> why not
    vip_errors: Mapping = field(default_factory=lambda: MappingProxyType({}))      # VIP -> why not
    rejected: tuple = ()                             # FileResults not applied (last good kept)
    reloads: int = 0                                 # applied since start (start not counted)
    reload_errors: int = 0
    last_reload: Mapping = field(default_factory=lambda: MappingProxyType({}))
    names: object = None                             # lb.sources.externalname.NameResolver, when forwarding

    def error_of(self, vs: VirtualServer) -> str | None:
        """None when vs serves, else why not (an ExternalName whose name never resolved
        accepts and resets: it does not serve either)."""
        return (self.vip_errors.get(vs.ip) or self.listen_errors.get(vs.listener)
                or (self.plan.unresolved.get(vs.service) if self.plan else None))

    def serving_errors(self) -> dict[VirtualServerKey, str]:
        """Every virtual server that does not serve, and why."""
        if not self.plan or not (self.vip_errors or self.listen_errors or self.plan.unresolved):
            return {}
        return {vs.key: e for vs in self.plan.virtual_servers.values() if (e := self.error_of(vs))}

    def stats(self) -> dict:
        return self.core.stats() if self.core is not None else {}

    def connections(self) -> list[tuple]:
        return self.core.connections() if self.core is not None else []
