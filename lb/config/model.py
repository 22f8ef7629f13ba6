"""The manifest model: frozen objects built from validated, defaulted manifests.

Everything downstream (resolve, allocate, snapshot, render, tables, control) reads
these and nothing else; the raw YAML never leaves lb/config/loader.py and
lb/config/validate.py. Field names follow the Kubernetes API in snake_case.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lb.addresses import host_port
from lb.config.source import Source

# Service types, session affinities and protocols, spelled as the API spells them.
CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"
EXTERNAL_NAME = "ExternalName"
HEADLESS = "None"  # the clusterIP value that makes a Service headless

AFFINITY_NONE = "None"
AFFINITY_CLIENT_IP = "ClientIP"
DEFAULT_AFFINITY_TIMEOUT = 10800   # v1.DefaultClientIPServiceAffinitySeconds, applied by defaulting

TCP, UDP, SCTP = "TCP", "UDP", "SCTP"


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str                 # "" when the Service has a single unnamed port
    protocol: str             # TCP, UDP or SCTP
    port: int
    target_port: int | str    # a number, or an IANA port name resolved against endpoints
    node_port: int | None     # set for NodePort/LoadBalancer after allocation
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str                          # ClusterIP, NodePort, LoadBalancer, ExternalName
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str] | None  # None: no selector (endpoints come from files)
    cluster_ip: str                    # an IP, "None" (headless) or "" (ExternalName)
    cluster_ips: tuple[str, ...]
    ip_families: tuple[str, ...]       # ("IPv4",), ("IPv6",), or both
    ip_family_policy: str | None       # SingleStack, PreferDualStack, RequireDualStack
    external_ips: tuple[str, ...] = ()
    external_name: str | None = None
    load_balancer_ip: str | None = None
    load_balancer_ingress: tuple[str, ...] = ()   # status.loadBalancer.ingress[].ip
    load_balancer_source_ranges: tuple[str, ...] = ()
    session_affinity: str = AFFINITY_NONE
    affinity_timeout: int = 0                     # ClientIP timeoutSeconds (defaulted); 0: no affinity
    publish_not_ready_addresses: bool = False
    allocate_load_balancer_node_ports: bool = True
    # lb's own: the address an ExternalName Service with ports is forwarded from, allocated
    # from --service-cluster-ip-range (the API has no clusterIP for ExternalName); "" otherwise
    forward_ip: str = ""
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, object] = field(default_factory=dict)   # lb.io/ annotations parsed (lb/config/annotations)
    source: Source | None = None
    manifest: Mapping | None = field(default=None, compare=False, repr=False)  # defaulted object, for -o yaml
    key: str = field(init=False, compare=False, repr=False)    # "<namespace>/<name>"

    def __post_init__(self):
        object.__setattr__(self, "key", f"{self.namespace}/{self.name}")

    @property
    def headless(self) -> bool:
        return self.cluster_ip == HEADLESS


@dataclass(frozen=True, slots=True)
class EndpointPort:
    name: str        # "" when unnamed
    port: int
    protocol: str = TCP
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One backend address. In an EndpointSet port is None (every port of the set
    applies); once resolved against a Service port, port is that port's number."""
    ip: str
    port: int | None = None
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    hostname: str | None = None
    node_name: str | None = None
    zone: str | None = None
    target_ref: str | None = None    # "Pod/<name>" when known

    @property
    def address(self) -> str:
        """ip:port, with brackets for IPv6 as kubectl prints it."""
        return host_port(self.ip, self.port)


@dataclass(frozen=True, slots=True)
class EndpointSet:
    """One Endpoints subset or one EndpointSlice, normalised: every address serves
    every port. Endpoints' notReadyAddresses become ready=False."""
    namespace: str
    service_name: str        # Endpoints: its name; EndpointSlice: label kubernetes.io/service-name
    kind: str                # "Endpoints" or "EndpointSlice"
    name: str
    address_type: str        # IPv4, IPv6 (FQDN slices are dropped with a warning, as kube-proxy does)
    addresses: tuple[Endpoint, ...]          # port None: the set's ports apply
    ports: tuple[EndpointPort, ...]
    options: Mapping[str, object] = field(default_factory=dict)   # lb.io/ annotations parsed (lb/config/annotations)
    source: Source | None = None
    manifest: Mapping | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ContainerPort:
    name: str | None
    container_port: int
    protocol: str = TCP


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ips: tuple[str, ...]             # status.podIPs (or podIP); empty: not scheduled, never an endpoint
    ready: bool                      # status.conditions[type=Ready].status == "True"
    terminating: bool = False        # metadata.deletionTimestamp set
    phase: str | None = None
    node_name: str | None = None
    hostname: str | None = None
    subdomain: str | None = None
    container_ports: tuple[ContainerPort, ...] = ()
    source: Source | None = None
    manifest: Mapping | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    source: Source | None = None


ManifestObject = Service | EndpointSet | Pod | Namespace
