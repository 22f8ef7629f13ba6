"""The `lb` command: argument parsing and dispatch. Each subcommand's work lives in
its own module; this file only knows their flags.

Exit codes: 0 success, 1 the command failed (invalid manifests, no running
instance), 2 usage error (argparse's convention). The flags become a frozen
RunSettings (lb.settings) and plain values; nothing below this module sees argparse.
"""
from __future__ import annotations

import argparse
import sys

from lb.dns.flags import add_dns_args, add_dns_config_args, dns_run_settings, upstream_address
from lb import __version__
from lb.config.loader import check_paths
from lb.config.annotations import PREFIX
from lb.config.annotations.scheduling import SCHEDULERS
from lb.settings import (DEFAULT_CLUSTER_IP_RANGE, DEFAULT_DRAIN_TIMEOUT, DEFAULT_DUMMY_INTERFACE,
                         DEFAULT_HOSTS_FILE, DEFAULT_METRICS_BIND_ADDRESS, DEFAULT_NODE_PORT_RANGE,
                         DEFAULT_SCHEDULER,
                         DEFAULT_TCP_IDLE_TIMEOUT,
                         ManifestSettings, RunSettings, SettingError, bind_address, flag_check, ip_address)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`lb run: error: argument --workers: ...`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _checked(convert, check):
    """An argparse type: convert the text, then apply a settings check (lb.settings), so a
    flag that makes no settings object still takes exactly what the setting takes."""
    def parse(text: str):
        value = convert(text)
        try:
            check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"invalid value '{text}': {exc}") from None
        return value
    parse.__name__ = convert.__name__       # argparse's "invalid int value" for text that is no number
    return parse


def _like_setting(name: str, convert=str):
    return _checked(convert, flag_check(name)[1])


def _add_manifest_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("-f", "--filename", dest="files", action="append", required=required, default=[] if not required else None,
                   metavar="PATH", help="manifest file or folder (repeatable; folders are read recursively)")
    p.add_argument("--service-cluster-ip-range", default=DEFAULT_CLUSTER_IP_RANGE, metavar="CIDR[,CIDR]",
                   help="range that empty clusterIPs are allocated from (default %(default)s)")
    p.add_argument("--service-node-port-range", default=DEFAULT_NODE_PORT_RANGE, metavar="LOW-HIGH",
                   help="range of valid and allocated nodePorts (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="also list skipped objects of other kinds")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lb", description=__import__("lb").__doc__)
    parser.add_argument("--version", action="version", version=f"lb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check manifests as the API server would")
    _add_manifest_args(p)

    p = sub.add_parser("get", help="list objects in kubectl's columns")
    _add_query_args(p)
    p.add_argument("-o", "--output", default=None, metavar="FORMAT",
                   help="wide|yaml|json|name|jsonpath=TEMPLATE|custom-columns=NAME:.path,...")
    p.add_argument("--show-labels", action="store_true", help="add a LABELS column")
    p.add_argument("--show-managed-fields", action="store_true", help="keep metadata.managedFields in yaml/json")
    _add_manifest_args(p)

    p = sub.add_parser("describe", help="show objects in kubectl describe's layout")
    _add_query_args(p)
    _add_name_args(p)
    _add_manifest_args(p)

    p = sub.add_parser("render", help="print the rules kube-proxy would program")
    p.add_argument("--mode", choices=["iptables", "nftables", "ipvs"], required=True)
    p.add_argument("--node-ip", action="append", default=[], metavar="IP", type=_checked(str, ip_address),
                   help="node address for nodePort rules (repeatable)")
    _add_scheduler_arg(p)
    _add_manifest_args(p)

    p = sub.add_parser("run", help="serve the manifests")
    _add_manifest_args(p)
    _add_run_args(p)
    add_dns_args(p)

    p = sub.add_parser("dns-config", help="print how to point a resolver at lb run's cluster DNS")
    add_dns_config_args(p)

    p = sub.add_parser("status", help="show the running instance like ipvsadm -Ln")
    p.add_argument("--metrics-bind-address", default=DEFAULT_METRICS_BIND_ADDRESS, metavar="HOST:PORT",
                   type=_checked(str, bind_address))
    p.add_argument("--stats", action="store_true", help="connections and bytes per virtual and real server")
    p.add_argument("-c", "--connection", action="store_true", help="list connections like ipvsadm -Lnc")
    p.add_argument("-o", "--output", choices=["json"], default=None)

    p = sub.add_parser("demo", help="three local backends, one Service, round robin and ClientIP affinity, live")
    p.add_argument("--workers", type=_like_setting("workers", int), default=None)
    p.add_argument("--requests", type=_checked(int, _at_least_one), default=6)
    p.add_argument("--metrics-bind-address", default="127.0.0.1:0", metavar="HOST:PORT",
                   type=_like_setting("metrics_bind_address"))
    p.add_argument("--serve", action="store_true", help="keep serving after the walk-through until Ctrl-C")

    # listed for --help only: main() hands `lb bench ...` to lb.bench before parsing
    sub.add_parser("bench", help="side-by-side benchmark in network namespaces (root; lb bench --help)")
    parser.commands = sub.choices
    return parser


def _add_query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("resource", help="svc|services|ep|endpoints|endpointslices|pods")
    p.add_argument("name", nargs="?")
    p.add_argument("-n", "--namespace", default=None)
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-l", "--selector", default=None, metavar="SELECTOR",
                   help="label selector: key=value, key!=value, key in (a,b), key notin (a,b), key, !key")


def _at_least_one(value: int) -> None:
    if value < 1:
        raise ValueError("must be 1 or more")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=None, help="worker threads (default: one per CPU)")
    p.add_argument("--nodeport-addresses", action="append", default=[], metavar="IP|CIDR",
                   help="addresses that serve nodePorts (default: all, 0.0.0.0 and ::)")
    p.add_argument("--metrics-bind-address", default=DEFAULT_METRICS_BIND_ADDRESS, metavar="HOST:PORT",
                   help="admin endpoint: /metrics, /healthz, /status (default %(default)s)")
    p.add_argument("--tcp-idle-timeout", type=float, default=DEFAULT_TCP_IDLE_TIMEOUT, metavar="SECONDS",
                   help="close a TCP connection idle this long (default %(default)g)")
    p.add_argument("--drain-timeout", type=float, default=DEFAULT_DRAIN_TIMEOUT, metavar="SECONDS",
                   help="on shutdown or frontend removal, let connections finish this long (default %(default)g)")
    p.add_argument("--dummy-interface", default=DEFAULT_DUMMY_INTERFACE,
                   help="interface that holds non-local cluster and external IPs (default %(default)s)")
    _add_scheduler_arg(p)
    _add_name_args(p)


def _add_name_args(p: argparse.ArgumentParser) -> None:
    """Where ExternalName targets are looked up (lb run forwards them; describe shows them)."""
    g = p.add_argument_group("ExternalName resolution")
    g.add_argument("--resolver", dest="resolvers", action="append", default=[], type=upstream_address,
                   metavar="ADDR[:PORT]", help="nameserver for ExternalName targets (repeatable; "
                                               "default /etc/resolv.conf's)")
    g.add_argument("--hosts-file", default=DEFAULT_HOSTS_FILE, metavar="PATH",
                   help="hosts(5) file read before any nameserver (default %(default)s)")


def _add_scheduler_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ipvs-scheduler", default=DEFAULT_SCHEDULER, metavar="NAME",
                   type=_like_setting("ipvs_scheduler", str),
                   help=f"scheduler of Services without {PREFIX}scheduler: {', '.join(SCHEDULERS)} "
                        "(default %(default)s)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        # the bench parses its own options (lb bench --help)
        from lb.bench import main as bench_main
        return bench_main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # kubectl takes NAME after flags too (`describe service -n study web`); argparse does not
    if (extra and args.command in ("get", "describe") and args.name is None and len(extra) == 1
            and not extra[0].startswith("-")):
        args.name, extra = extra[0], []
    if extra:
        parser.error("unrecognized arguments: " + " ".join(extra))
    try:
        if args.command in ("validate", "get", "describe", "render"):
            return _offline(args, _settings(parser, args, manifest_settings))
        if args.command == "run":
            from lb import control
            settings = _settings(parser, args, run_settings)
            try:
                check_paths(settings.files)
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 2
            return control.run(settings)
        if args.command == "dns-config":
            from lb.dns import config
            return config.main(args)
        if args.command == "status":
            from lb import status
            return status.main(args.metrics_bind_address, stats=args.stats, connections=args.connection,
                               output=args.output)
        if args.command == "demo":
            from lb import demo
            return demo.main(workers=args.workers, requests=args.requests,
                             metrics_bind_address=args.metrics_bind_address, serve=args.serve)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 2


def _settings(parser: argparse.ArgumentParser, args, make):
    """The command's settings, or its usage error (exit 2) for a value a setting refuses."""
    try:
        return make(args)
    except SettingError as exc:
        parser.commands[args.command].error(str(exc))


def manifest_settings(args) -> ManifestSettings:
    return ManifestSettings(files=tuple(args.files), service_cluster_ip_range=args.service_cluster_ip_range,
                            service_node_port_range=args.service_node_port_range)


def run_settings(args) -> RunSettings:
    return RunSettings(files=tuple(args.files), service_cluster_ip_range=args.service_cluster_ip_range,
                       service_node_port_range=args.service_node_port_range, workers=args.workers,
                       nodeport_addresses=tuple(args.nodeport_addresses),
                       metrics_bind_address=args.metrics_bind_address, tcp_idle_timeout=args.tcp_idle_timeout,
                       drain_timeout=args.drain_timeout, dummy_interface=args.dummy_interface,
                       ipvs_scheduler=args.ipvs_scheduler, resolvers=tuple(args.resolvers),
                       hosts_file=args.hosts_file,
                       **dns_run_settings(args))


def _offline(args, settings: ManifestSettings) -> int:
    from lb import offline
    if args.command == "validate":
        return offline.validate(settings, verbose=args.verbose)
    if args.command == "render":
        return offline.render(settings, args.mode, tuple(args.node_ip), args.ipvs_scheduler)
    query = offline.Query(args.resource, args.name, args.namespace, args.all_namespaces,
                          getattr(args, "output", None), args.selector, getattr(args, "show_labels", False),
                          getattr(args, "show_managed_fields", False), tuple(getattr(args, "resolvers", ())),
                          getattr(args, "hosts_file", DEFAULT_HOSTS_FILE))
    return getattr(offline, args.command)(settings, query)


if __name__ == "__main__":
    sys.exit(main())
