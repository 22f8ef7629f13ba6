"""The embedded cluster DNS: answers `*.svc.<zone>` from the Snapshot, as CoreDNS's
kubernetes plugin answers them (kubernetes/dns docs/specification.md, schema 1.1.0).

    records.py    the zone's index, computed from a Snapshot (a query is a dict lookup)
    answer.py     one question -> answer, authority, additional sections (in-zone, reverse, search names)
    responder.py  wire in -> wire out: FORMERR, NOTIMP, REFUSED, EDNS0 sizes, truncation, answer cache
    upstream.py   names outside the zone, forwarded with a bounded cache and bounded in-flight queries
    server.py     UDP and TCP sockets on the event loop, with connection, task and buffer limits
    conflicts.py  a DNS bind address that is also a Service's frontend (one owner per address:port/protocol)
    cluster.py    what `lb run` holds: start, update(snapshot), close
    flags.py      the command-line flags of `lb run` and `lb dns-config`
    config.py     `lb dns-config`: how to point a resolver at lb

Importing this package loads nothing heavy: the CLI imports lb.dns.flags on every command.
"""
