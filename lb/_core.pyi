"""Typed surface of lb._core, the data plane (ext/core.pyx). The contract is docs/internals.md,
"The core"; everything not listed here is cdef and runs without the GIL."""
from collections.abc import Sequence
from typing import TypedDict

# -- the table apply() takes (plain data only) ------------------------------------------------

# (ep_id, ip, port, weight): ep_id stable for (sp_id, ip, port); weight None means 1, <= 0 keeps
# the endpoint in the row (visible, its connections continue) but gives it no new connections.
Endpoint = tuple[int, str, int, int | None]
# The scheduler options of a row, (key, value) pairs (docs/internals.md, "Scheduler options"):
#   ("slow_start", seconds 0..86400)       every scheduler: a newly eligible endpoint ramps up
#   ("hash_port", bool)                    sh, mh: hash the client's address and port
#   ("mh_table_size", prime <= 1048573)    mh: lookup table size, above the endpoint count
# A bad key or value is a ValueError naming the service port.
Option = tuple[str, float | int | bool]
# (sp_id, name, scheduler, affinity_timeout, endpoints[, options]): scheduler one of
# scheduler_names() ("" or None mean rr); affinity_timeout seconds, 0 = no ClientIP affinity;
# options optional (None or () mean none). Rows equal (==) to the ones that built the published
# table are reused, not rebuilt, when given as tuples all the way down.
ServicePort = (tuple[int, str, str | None, float, tuple[Endpoint, ...]]
               | tuple[int, str, str | None, float, tuple[Endpoint, ...], tuple[Option, ...] | None])
# (listener_id, local_ip or "", local_port or 0, sp_id)
Frontend = tuple[int, str, int, int]


class Table(TypedDict):
    service_ports: Sequence[ServicePort]
    frontends: Sequence[Frontend]


# -- what stats() returns ----------------------------------------------------------------------

class AcceptErrors(TypedDict):
    emfile: int         # accept4 hit EMFILE/ENFILE/ENOBUFS/ENOMEM (the listener backs off)
    other: int


class Pipes(TypedDict):
    pooled: int
    in_use: int


class ServicePortStats(TypedDict):
    connections: int
    bytes_in: int               # client -> backend, delivered
    bytes_out: int              # backend -> client, delivered
    connect_failures: int
    retries: int
    no_endpoint_resets: int     # reset at once: empty row or no eligible endpoint


class EndpointStats(TypedDict):
    active: int                 # ipvs ActiveConn: established
    inactive: int               # ipvs InActConn: connecting or half-closed/closing
    connections: int
    bytes_in: int
    bytes_out: int
    connect_failures: int


class Stats(TypedDict):
    generation: int
    workers: int
    active_connections: int
    accept_errors: AcceptErrors
    no_frontend_resets: int     # no frontend (or no row) for the connection's listener/address
    backend_socket_emfile: int  # backend socket() hit the descriptor limit; the client waited
    pipe_failures: int          # pipe2 failed; the direction took the copy path
    accepted_per_worker: list[int]
    pipes: Pipes
    rows_built: int             # rows compiled by apply since start (reused rows not counted)
    frontend_tables_built: int  # frontend hashes compiled since start (shared while unchanged)
    # ids removed by an apply stay until their last connection ends
    service_ports: dict[int, ServicePortStats]
    endpoints: dict[int, EndpointStats]


# (client_ip, client_port, frontend_ip, frontend_port, backend_ip, backend_port, state,
#  bytes_in, bytes_out, started_unix, last_activity_unix, sp_id, ep_id);
# state: "SYN_SENT" | "ESTABLISHED" | "FIN_WAIT" (client sent FIN) | "CLOSE_WAIT" (backend
# sent FIN) | "CLOSING" (both)
Connection = tuple[str, int, str, int, str, int, str, int, int, float, float, int, int]


class Core:
    """The data plane: worker threads with epoll loops, tables, conntrack, schedulers."""

    max_pipes: int  # read-only: the pipe budget of the whole core

    def __init__(self, workers: int | None = None, idle_timeout: float = 3600.0,
                 connect_timeouts: Sequence[float] = (0.25, 0.5, 1.0, 2.0), pipe_size: int = 65536,
                 max_pipes: int | None = None) -> None:
        """workers: default os.cpu_count(), 1..64. connect_timeouts: one per attempt (1..8).
        max_pipes: for the whole core, 0 = always the copy path. Raises RLIMIT_NOFILE's soft
        limit to the hard limit. ValueError for bad arguments."""

    def add_listener(self, fd: int, listener_id: int, wildcard: bool = False, worker: int = -1) -> None:
        """Takes over a bound, listening, TCP socket fd; the caller then calls sock.detach().
        wildcard: route by each connection's local address. worker=k: only worker k accepts
        (one SO_REUSEPORT socket per worker under one listener_id). OSError for an unusable fd
        (the fd stays the caller's), ValueError for an id already registered, RuntimeError
        once stopped."""

    def remove_listener(self, listener_id: int) -> None:
        """Stops accepting and closes the fd(s); live connections continue. KeyError if unknown."""

    def apply(self, table: Table) -> int:
        """Publishes a new table and returns its generation. Builds only the rows whose tuple
        changed and the frontend hash only when the frontends changed; sets every endpoint's
        weight from the table. TypeError/ValueError for malformed input: nothing is published."""

    def set_endpoint_state(self, ep_id: int, weight: int) -> None:
        """Sets an endpoint's effective weight for the next pick by any worker, without an
        apply: 0 takes it out of scheduling (its connections continue), > 0 puts it back (and
        starts its slow start). Rows whose scheduler data depends on weights (wrr, sh, mh) are
        rebuilt and swapped in for the workers; the generation stays. KeyError when ep_id is in
        no row of the published table, ValueError for weight < 0."""

    def start(self) -> None:
        """Starts the worker threads. RuntimeError when already started or stopped."""

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Stops accepting, lets connections finish up to drain_timeout, resets the rest,
        joins the workers. Idempotent; dropping a running Core stops it with drain_timeout 0."""

    def stats(self) -> Stats:
        """Copies of the counters."""

    def connections(self) -> list[Connection]:
        """Copies of the conntrack entries."""


def scheduler_names() -> tuple[str, ...]:
    """The scheduler names a row may give, in registration order: rr, wrr, lc, wlc, sh, mh."""


# -- scheduler test hooks: the C functions the workers call, compared with lb/schedulers/ --------

class RoundRobinCursor:
    def __init__(self, n: int = 0) -> None: ...

    def next(self, n: int | None = None, weights: Sequence[int] | None = None) -> int | None:
        """Index of the next eligible endpoint among n (or len(weights)); weights <= 0 are not
        eligible. None when none is; ValueError for no endpoint at all."""


class AffinityTable:
    def __init__(self, timeout_ns: int) -> None: ...

    def pick(self, client_ip: str, now_ns: int, endpoints: Sequence[int], reset: bool = False,
             weights: Sequence[int] | None = None) -> int | None:
        """ep_id for client_ip (ClientIP affinity in front of rr); None when none is eligible.
        reset: the previous connect failed, ask the scheduler again."""

    def reap(self, now_ns: int) -> None:
        """Drops the entries expired at now_ns."""

    def __len__(self) -> int: ...


class Scheduler:
    """One service port's row built by apply's own code (any scheduler, options, affinity) and
    picked from as workers pick. Times are integer nanoseconds (CLOCK_MONOTONIC in the core)."""

    rows_built: int         # rows built by apply()
    rows_reweighted: int    # rows rebuilt for weights (set_endpoint_state, or apply restoring them)

    def __init__(self, name: str, endpoints: Sequence[Endpoint] = (), options: Sequence[Option] = (),
                 affinity_timeout: float = 0.0, now_ns: int = 1) -> None:
        """ValueError as Core.apply raises it."""

    def apply(self, endpoints: Sequence[Endpoint], options: Sequence[Option] = (), now_ns: int = 1) -> None:
        """Rebuilds the row (reused when equal) as Core.apply does at now_ns."""

    def set_endpoint_state(self, ep_id: int, weight: int, now_ns: int = 1) -> None:
        """As Core.set_endpoint_state at now_ns."""

    def set_connections(self, ep_id: int, active: int, inactive: int) -> None:
        """Sets the endpoint's live counts, which lc and wlc read."""

    def pick(self, client_ip: str, client_port: int = 0, now_ns: int = 0,
             failed_ep_id: int | None = None) -> int | None:
        """ep_id for a new connection (a retry after failed_ep_id failed); None when none is
        eligible."""

    def slots(self, settled: bool = False) -> list[int] | None:
        """The ep_ids of wrr's sequence, sh's buckets or mh's table ([] for the others); with
        settled, where each slot's clients stay during a slow start (None when not kept)."""

    def bench(self, n: int, clients: int = 65536) -> float:
        """Nanoseconds per pick over n picks, GIL released."""
