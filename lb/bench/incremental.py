"""kube-proxy's partial sync for one change: the transaction between two rendered rulesets
(old, currently loaded; new, wanted), touching only what differs, as kube-proxy sends
it after an endpoint change instead of reloading everything.

- iptables (MinimizeIPTablesRestore): `iptables-restore --noflush` input that declares
  (and so flushes) each chain whose rules changed or that is new, writes its rules, and
  flushes then deletes (-X) chains that are gone. kube-proxy also rewrites its top-level
  chains on every partial sync; here only chains that changed are written.
- nftables (knftables transactions): new chains, sets and maps are added; a chain whose
  rules changed is flushed and refilled; map and set elements are deleted and added one
  by one; chains that are gone are flushed and deleted, after the elements that pointed
  at them.

Both read the renderers' own output shape (lb.render.iptables, lb.render.nftables).
"""
from __future__ import annotations

import re


# -- iptables ------------------------------------------------------------------------------
def _iptables_tables(text: str) -> dict[str, tuple[dict[str, str], dict[str, list[str]]]]:
    """{table: ({chain: declaration line}, {chain: [rule lines]})} of iptables-restore input."""
    tables: dict = {}
    chains: dict[str, str] = {}
    rules: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            chains, rules = {}, {}
            tables[line[1:]] = (chains, rules)
        elif line.startswith(":"):
            name = line[1:].split()[0]
            chains[name] = line
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            rules.setdefault(line.split()[1], []).append(line)
    return tables


def iptables_change(old: str, new: str) -> str:
    """iptables-restore --noflush input that turns the `old` ruleset into `new`."""
    before, after = _iptables_tables(old), _iptables_tables(new)
    out = []
    for table, (chains, rules) in after.items():
        old_chains, old_rules = before.get(table, ({}, {}))
        changed = [c for c in chains if c not in old_chains or rules[c] != old_rules.get(c, [])]
        gone = [c for c in old_chains if c not in chains]
        if not changed and not gone:
            continue
        out.append(f"*{table}")
        out += [chains[c] for c in changed] + [old_chains[c] for c in gone]
        for c in changed:
            out += rules[c]
        out += [f"-X {c}" for c in gone]
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


# -- nftables ------------------------------------------------------------------------------
_ADD = re.compile(r"^add (chain|rule|set|map|element) (\S+ \S+) (\S+)(.*)$")


def _nft_objects(text: str) -> dict:
    """The objects of nft -f input written as `add ...` lines: chains (name -> line),
    rules (chain -> [line]), sets and maps (name -> line), elements (container ->
    {key: line})."""
    objs: dict = {"table": "", "chain": {}, "rule": {}, "set": {}, "element": {}}
    for line in text.splitlines():
        m = _ADD.match(line)
        if not m:
            continue
        kind, table, name, rest = m.groups()
        objs["table"] = table
        if kind == "chain":
            objs["chain"][name] = line
            objs["rule"].setdefault(name, [])
        elif kind == "rule":
            objs["rule"].setdefault(name, []).append(line)
        elif kind in ("set", "map"):
            objs["set"][name] = (kind, line)
        else:
            objs["element"].setdefault(name, {})[_element_key(rest)] = line
    return objs


def _element_key(rest: str) -> str:
    """`{ 10.0.0.1 . tcp . 80 comment "x" : goto c }` -> `10.0.0.1 . tcp . 80`"""
    inner = rest.strip()[1:-1].strip()
    return re.split(r' comment "| : ', inner, maxsplit=1)[0].strip()


def nftables_change(old: str, new: str) -> str:
    """nft -f input (one transaction) that turns the `old` ruleset into `new`."""
    a, b = _nft_objects(old), _nft_objects(new)
    table = b["table"] or a["table"]
    out = [line for name, line in b["chain"].items() if name not in a["chain"]]
    out += [line for name, (_, line) in b["set"].items() if name not in a["set"]]
    for name, rules in b["rule"].items():
        if rules != a["rule"].get(name):
            if name in a["chain"]:
                out.append(f"flush chain {table} {name}")
            out += rules
    for container, elements in a["element"].items():
        wanted = b["element"].get(container, {})
        out += [f"delete element {table} {container} {{ {key} }}" for key, line in elements.items()
                if wanted.get(key) != line]
    for container, elements in b["element"].items():
        had = a["element"].get(container, {})
        out += [line for key, line in elements.items() if had.get(key) != line]
    for name in a["chain"]:
        if name not in b["chain"]:
            out += [f"flush chain {table} {name}", f"delete chain {table} {name}"]
    out += [f"delete {kind} {table} {name}" for name, (kind, _) in a["set"].items() if name not in b["set"]]
    return "\n".join(out) + "\n" if out else ""
