"""Validation of defaulted manifests, as the Kubernetes API server does it.

Input: plain dicts whose field types the loader already checked (so a port is an
int, a label value a str) and that lb/config/build.py already defaulted. Every
function returns the errors it found as (field path, message) pairs worded like
apimachinery's field errors, all of them and not only the first.

Sources (read, not copied): k/k pkg/apis/core/validation/validation.go
ValidateService, validateServicePort, ValidateServiceClusterIPsRelatedFields,
validateClientIPAffinityConfig, ValidateEndpoints,
pkg/apis/discovery/validation/validation.go, apimachinery util/validation.

Deliberate lb differences (the dev-proxy use): loopback addresses are accepted for
externalIPs, loadBalancerIP and endpoint addresses, where Kubernetes rejects them;
multicast is rejected everywhere an address receives traffic. nodePort range,
uniqueness and clusterIP allocation are checked later (lb/config/allocate.py).
"""
from __future__ import annotations

import ipaddress
import re

from lb.addresses import ip_family
from lb.diagnostics import duplicate, forbidden, invalid, required, unsupported

FieldError = tuple[str, str]

PROTOCOLS = ("SCTP", "TCP", "UDP")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
AFFINITIES = ("ClientIP", "None")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
TRAFFIC_POLICIES = ("Cluster", "Local")
TRAFFIC_DISTRIBUTIONS = ("PreferClose", "PreferSameNode", "PreferSameZone")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
MAX_AFFINITY_TIMEOUT = 86400          # core.MaxClientIPServiceAffinitySeconds
MAX_SLICE_ENDPOINTS, MAX_SLICE_ADDRESSES, MAX_SLICE_PORTS = 1000, 100, 100
MAX_ANNOTATIONS_BYTES = 256 * 1024
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


class GoText:
    """A value shown as Go's %#v shows it (lists, structs, booleans)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def go_value(value) -> GoText:
    if isinstance(value, bool):
        return GoText("true" if value else "false")
    if isinstance(value, list):
        return GoText("[]string{" + ", ".join(f'"{v}"' for v in value) + "}")
    return GoText(str(value))


# ---- apimachinery's string formats (k8s.io/apimachinery/pkg/util/validation) ----

def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_QUALIFIED_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
                  "and must start and end with an alphanumeric character")


def _full(fmt: str) -> re.Pattern:
    return re.compile("^" + fmt + r"\Z")


_RE = {k: _full(v) for k, v in (("label", _DNS1123_LABEL), ("subdomain", _DNS1123_SUBDOMAIN),
                                 ("1035", _DNS1035_LABEL), ("qname", _QUALIFIED_NAME),
                                 ("lvalue", _LABEL_VALUE))}


def max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_label(value: str) -> list[str]:
    errs = [max_len(63)] if len(value) > 63 else []
    if not _RE["label"].match(value):
        if _RE["subdomain"].match(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    errs = [max_len(253)] if len(value) > 253 else []
    if not _RE["subdomain"].match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _DNS1123_SUBDOMAIN, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = [max_len(63)] if len(value) > 63 else []
    if not _RE["1035"].match(value):
        errs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_LABEL, "my-name", "abc-123"))
    return errs


def qualified_name(value: str) -> list[str]:
    parts = value.split("/")
    name, errs = parts[-1], []
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in dns1123_subdomain(parts[0])]
    elif len(parts) > 2:
        return ["a qualified name " + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + max_len(63))
    if not _RE["qname"].match(name):
        errs.append("name part " + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    errs = [max_len(63)] if len(value) > 63 else []
    if not _RE["lvalue"].match(value):
        errs.append(_regex_error("a valid label must be an empty string or " + _QUALIFIED_MSG.removeprefix("must "),
                                 _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errs


def port_num(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


def port_name(value: str) -> list[str]:
    """IANA_SVC_NAME (apimachinery IsValidPortName)."""
    errs = [max_len(15)] if len(value) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def parse_ip(value) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as Go's net.ParseIP reads it: no zone, no leading-zero octets."""
    if not isinstance(value, str) or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def ip_errors(path: str, value: str) -> list[FieldError]:
    if type(value) is str and _IPV4.match(value):
        return []
    return [] if parse_ip(value) is not None else [(path, invalid(value, IP_MSG))]


# A dotted quad as Go (and ipaddress) accept it: no leading zeros. Most addresses in a
# manifest are such: checked here without building an ipaddress object.
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z")
_LINK_LOCAL_MULTICAST_V4 = ipaddress.ip_network("224.0.0.0/24")
LINK_LOCAL = "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
LINK_LOCAL_MULTICAST = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
MULTICAST = "may not be in the multicast range (224.0.0.0/4, ff00::/8)"


def non_special_ip(path: str, value: str) -> list[FieldError]:
    """ValidateNonSpecialIP, except that lb accepts loopback (local backends and VIPs)."""
    if type(value) is str and _IPV4.match(value):
        first = int(value[:value.index(".")])
        if first not in (0, 169) and not 224 <= first <= 239:
            return []          # the common case: nothing special
    ip = parse_ip(value)
    if ip is None:
        return [(path, invalid(value, IP_MSG))]
    errs = []
    if ip.is_unspecified:
        errs.append(f"may not be unspecified ({value})")
    if ip.is_link_local:
        errs.append(LINK_LOCAL)
    if ip in _LINK_LOCAL_MULTICAST_V4 or (ip.version == 6 and ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02):
        errs.append(LINK_LOCAL_MULTICAST)
    elif ip.is_multicast:
        errs.append(MULTICAST)
    return [(path, invalid(value, e)) for e in errs]


def cidr_errors(path: str, value: str) -> list[FieldError]:
    try:
        if "/" not in value or "%" in value:
            raise ValueError(value)
        ipaddress.ip_network(value, strict=False)
        return []
    except ValueError:
        return [(path, invalid(value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))]


def _each(path: str, value: str, checks: list[str]) -> list[FieldError]:
    return [(path, invalid(value, msg)) for msg in checks]


# ---- metadata (ValidateObjectMeta) ----

def validate_labels(labels: dict | None, path: str) -> list[FieldError]:
    errs = []
    for key, value in (labels or {}).items():
        errs += _each(path, key, qualified_name(key))
        errs += _each(path, value, label_value(value))
    return errs


def validate_meta(obj: dict, name_check, namespaced: bool = True) -> list[FieldError]:
    meta = obj.get("metadata") or {}
    errs: list[FieldError] = []
    name = meta.get("name") or ""
    if not name:
        if meta.get("generateName"):
            errs.append(("metadata.generateName", forbidden("cannot use generate name with apply")))
        else:
            errs.append(("metadata.name", required("name or generateName is required")))
    else:
        errs += _each("metadata.name", name, name_check(name))
    if namespaced:
        errs += _each("metadata.namespace", meta.get("namespace") or "", dns1123_label(meta.get("namespace") or ""))
    errs += validate_labels(meta.get("labels"), "metadata.labels")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errs += _each("metadata.annotations", key, qualified_name(key.lower()))
    size = sum(len(k) + len(v) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        errs.append(("metadata.annotations", f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes"))
    return errs


# ---- Service ----

def externally_accessible(spec: dict) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def is_headless(spec: dict) -> bool:
    return spec.get("clusterIPs") == ["None"]


def validate_service(obj: dict) -> list[FieldError]:
    """ValidateService on a defaulted Service, in the API server's order."""
    errs = validate_meta(obj, dns1035_label)
    spec = obj.get("spec") or {}
    kind, ports, headless = spec.get("type"), spec.get("ports") or [], is_headless(spec)
    if not ports and not headless and kind != "ExternalName":
        errs.append(("spec.ports", required()))
    if kind in ("LoadBalancer", "NodePort") and headless:
        errs.append(("spec.clusterIPs[0]", invalid("None", f"may not be set to 'None' for {kind} services")))
    elif kind == "ExternalName":
        for name in ("clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(name):
                errs.append((f"spec.{name}", forbidden("may not be set for ExternalName services")))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs += _each("spec.externalName", cname, dns1123_subdomain(cname))
        else:
            errs.append(("spec.externalName", required()))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _validate_service_port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    if spec.get("selector") is not None:
        errs += validate_labels(spec["selector"], "spec.selector")
    errs += _validate_affinity(spec)
    errs += validate_cluster_ips(spec)
    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs += non_special_ip(f"spec.externalIPs[{i}]", ip)
    if kind not in SERVICE_TYPES:
        errs.append(("spec.type", unsupported(kind, SERVICE_TYPES)))
    errs += _validate_port_uniqueness(spec)
    errs += _validate_load_balancer_fields(obj)
    errs += _validate_traffic_policies(spec)
    return errs


def _validate_service_port(port: dict, require_name: bool, names: set, path: str) -> list[FieldError]:
    errs = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append((f"{path}.name", required()))
    elif name:
        errs += _each(f"{path}.name", name, dns1123_label(name))
        if name in names:
            errs.append((f"{path}.name", duplicate(name)))
        names.add(name)
    number = port.get("port") or 0
    errs += _each(f"{path}.port", number, port_num(number))
    if port["protocol"] not in PROTOCOLS:
        errs.append((f"{path}.protocol", unsupported(port["protocol"], PROTOCOLS)))
    errs += validate_port_num_or_name(port["targetPort"], f"{path}.targetPort")
    if port.get("appProtocol") is not None:
        errs += _each(f"{path}.appProtocol", port["appProtocol"], qualified_name(port["appProtocol"]))
    # lb: only the syntax of a nodePort; range and uniqueness are allocation checks.
    if port.get("nodePort"):
        errs += _each(f"{path}.nodePort", port["nodePort"], port_num(port["nodePort"]))
    return errs


def validate_port_num_or_name(value: int | str, path: str) -> list[FieldError]:
    if isinstance(value, int):
        return _each(path, value, port_num(value))
    return _each(path, value, port_name(value))


def _validate_affinity(spec: dict) -> list[FieldError]:
    affinity = spec.get("sessionAffinity")
    if affinity not in AFFINITIES:
        return [("spec.sessionAffinity", unsupported(affinity, AFFINITIES))]
    if affinity == "None":
        if spec.get("sessionAffinityConfig") is not None:
            return [("spec.sessionAffinityConfig", forbidden("must not be set when session affinity is None"))]
        return []
    timeout = spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
    if not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
        path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
        return [(path, invalid(timeout, f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}"))]
    return []


def validate_cluster_ips(spec: dict) -> list[FieldError]:
    """ValidateServiceClusterIPsRelatedFields."""
    if spec.get("type") == "ExternalName":
        return []
    errs: list[FieldError] = []
    cluster_ip, ips, families = spec.get("clusterIP") or "", spec.get("clusterIPs") or [], spec.get("ipFamilies") or []
    if cluster_ip:
        if not ips:
            errs.append(("spec.clusterIPs", required()))
        elif ips[0] != cluster_ip:
            errs.append(("spec.clusterIPs", invalid(go_value(ips), "first value must match `clusterIP`")))
    elif ips:
        errs.append(("spec.clusterIPs", invalid(go_value(ips), "must be empty when `clusterIP` is not specified")))
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            errs.append((f"spec.ipFamilies[{i}]", unsupported(family, IP_FAMILIES)))
        if family in seen:
            errs.append((f"spec.ipFamilies[{i}]", duplicate(family)))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(("spec.ipFamilyPolicy", unsupported(policy, IP_FAMILY_POLICIES)))
    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                errs.append(("spec.clusterIPs", invalid(go_value(ips), "'None' must be the first and only value")))
            continue
        found = ip_errors(f"spec.clusterIPs[{i}]", ip)
        bad_ips = bad_ips or bool(found)
        errs += found
    if len(ips) > 2:
        errs.append(("spec.clusterIPs", invalid(go_value(ips), "may only hold up to 2 values")))
    if bad_ips:
        return errs
    if len(ips) > 1 and len({ip_family(ip) for ip in ips}) != len(ips):
        errs.append(("spec.clusterIPs", invalid(go_value(ips), "may specify no more than one IP for each IP family")))
    if not is_headless(spec):
        for i, (ip, family) in enumerate(zip(ips, families)):
            if family in IP_FAMILIES and ip_family(ip) != family:
                errs.append((f"spec.clusterIPs[{i}]",
                             invalid(ip, f"expected an {family} value as indicated by `ipFamilies[{i}]`")))
    return errs


def _validate_port_uniqueness(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    ports = spec.get("ports") or []
    if spec.get("type") == "ClusterIP":
        errs += [(f"spec.ports[{i}].nodePort", forbidden("may not be used when `type` is 'ClusterIP'"))
                 for i, p in enumerate(ports) if p.get("nodePort")]
    node_ports, port_keys = set(), set()
    for i, p in enumerate(ports):
        if p.get("nodePort"):
            key = (p["protocol"], p["nodePort"])
            if key in node_ports:
                errs.append((f"spec.ports[{i}].nodePort", duplicate(p["nodePort"])))
            node_ports.add(key)
    for i, p in enumerate(ports):
        key = (p["protocol"], p.get("port") or 0)
        if key in port_keys:
            # The API server shows the (protocol, port) key as Go prints a core.ServicePort.
            shown = (f'core.ServicePort{{Name:"", Protocol:"{key[0]}", AppProtocol:(*string)(nil), Port:{key[1]}, '
                     f'TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')
            errs.append((f"spec.ports[{i}]", duplicate(GoText(shown))))
        port_keys.add(key)
    return errs


def _validate_load_balancer_fields(obj: dict) -> list[FieldError]:
    spec, errs = obj["spec"], []
    is_lb = spec.get("type") == "LoadBalancer"
    lb_only = forbidden("may only be used when `type` is 'LoadBalancer'")
    ranges = spec.get("loadBalancerSourceRanges") or []
    annotation = ((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE_RANGES_ANNOTATION)
    if ranges:
        # "LoadBalancerSourceRanges" (capital L) is the API server's own spelling of this path.
        if not is_lb:
            errs.append(("spec.LoadBalancerSourceRanges", lb_only))
        for i, value in enumerate(ranges):
            errs += cidr_errors(f"spec.LoadBalancerSourceRanges[{i}]", value.strip())
    elif annotation is not None:
        path = f"metadata.annotations[{SOURCE_RANGES_ANNOTATION}]"
        if not is_lb:
            errs.append((path, lb_only))
        for value in filter(None, (v.strip() for v in annotation.strip().split(","))):
            errs += cidr_errors(path, value)
    if spec.get("allocateLoadBalancerNodePorts") is not None and not is_lb:
        errs.append(("spec.allocateLoadBalancerNodePorts", lb_only))
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        errs += _each("spec.loadBalancerClass", lb_class, qualified_name(lb_class)) if is_lb else \
            [("spec.loadBalancerClass", lb_only)]
    # lb: loadBalancerIP is implementation-defined; here it is a VIP lb serves.
    if spec.get("loadBalancerIP"):
        errs += non_special_ip("spec.loadBalancerIP", spec["loadBalancerIP"])
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    for i, ing in enumerate(ingress):
        path = f"status.loadBalancer.ingress[{i}]"
        if ing.get("ip"):
            errs += ip_errors(f"{path}.ip", ing["ip"])
        if ing.get("hostname"):
            errs += _each(f"{path}.hostname", ing["hostname"], dns1123_subdomain(ing["hostname"]))
            if parse_ip(ing["hostname"]) is not None:
                errs.append((f"{path}.hostname", invalid(ing["hostname"], "must be a DNS name, not an IP address")))
        if ing.get("ipMode") is not None and ing["ipMode"] not in ("Proxy", "VIP"):
            errs.append((f"{path}.ipMode", unsupported(ing["ipMode"], ("Proxy", "VIP"))))
    return errs


def _validate_traffic_policies(spec: dict) -> list[FieldError]:
    errs = []
    etp = spec.get("externalTrafficPolicy") or ""
    if not externally_accessible(spec):
        if etp:
            errs.append(("spec.externalTrafficPolicy", invalid(etp, "may only be set for externally-accessible services")))
    elif etp not in TRAFFIC_POLICIES:
        errs.append(("spec.externalTrafficPolicy", unsupported(etp, TRAFFIC_POLICIES)))
    hc = spec.get("healthCheckNodePort") or 0
    if hc and not (spec.get("type") == "LoadBalancer" and etp == "Local"):
        errs.append(("spec.healthCheckNodePort",
                     invalid(hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")))
    elif hc:
        errs += _each("spec.healthCheckNodePort", hc, port_num(hc))
    itp = spec.get("internalTrafficPolicy")
    if itp is not None and itp not in TRAFFIC_POLICIES:
        errs.append(("spec.internalTrafficPolicy", unsupported(itp, TRAFFIC_POLICIES)))
    td = spec.get("trafficDistribution")
    if td is not None and td not in TRAFFIC_DISTRIBUTIONS:
        errs.append(("spec.trafficDistribution", unsupported(td, TRAFFIC_DISTRIBUTIONS)))
    return errs


# ---- Endpoints and EndpointSlice ----


def validate_endpoints(obj: dict) -> list[FieldError]:
    errs = validate_meta(obj, dns1123_subdomain)
    for i, subset in enumerate(obj.get("subsets") or []):
        path = f"subsets[{i}]"
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.append((path, required("must specify `addresses` or `notReadyAddresses`")))
        for group in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(group) or []):
                errs += _validate_endpoint_address(addr, f"{path}.{group}[{j}]")
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            errs += _validate_endpoint_port(port, len(ports) > 1, f"{path}.ports[{j}]")
    return errs


def _validate_endpoint_address(addr: dict, path: str) -> list[FieldError]:
    errs = non_special_ip(f"{path}.ip", addr.get("ip") or "")
    if addr.get("hostname"):
        errs += _each(f"{path}.hostname", addr["hostname"], dns1123_label(addr["hostname"]))
    if addr.get("nodeName") is not None:
        errs += _each(f"{path}.nodeName", addr["nodeName"], dns1123_subdomain(addr["nodeName"]))
    return errs


def _validate_endpoint_port(port: dict, require_name: bool, path: str) -> list[FieldError]:
    errs = []
    name = port.get("name") or ""
    if require_name and not name:
        errs.append((f"{path}.name", required()))
    elif name:
        errs += _each(f"{path}.name", name, dns1123_label(name))
    number = port.get("port") or 0
    errs += _each(f"{path}.port", number, port_num(number))
    if port["protocol"] not in PROTOCOLS:
        errs.append((f"{path}.protocol", unsupported(port["protocol"], PROTOCOLS)))
    if port.get("appProtocol") is not None:
        errs += _each(f"{path}.appProtocol", port["appProtocol"], qualified_name(port["appProtocol"]))
    return errs


def validate_endpoint_slice(obj: dict) -> list[FieldError]:
    errs = validate_meta(obj, dns1123_subdomain)
    address_type = obj.get("addressType") or ""
    if not address_type:
        errs.append(("addressType", required()))
    elif address_type not in ADDRESS_TYPES:
        errs.append(("addressType", unsupported(address_type, ADDRESS_TYPES)))
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        errs.append(("endpoints", f"Too many: {len(endpoints)}: must have at most {MAX_SLICE_ENDPOINTS} items"))
        endpoints = []
    for i, ep in enumerate(endpoints):
        path, addrs = f"endpoints[{i}]", ep.get("addresses") or []
        if not addrs:
            errs.append((f"{path}.addresses", required("must contain at least 1 address")))
        elif len(addrs) > MAX_SLICE_ADDRESSES:
            errs.append((f"{path}.addresses", f"Too many: {len(addrs)}: must have at most {MAX_SLICE_ADDRESSES} items"))
        if address_type in ("IPv4", "IPv6"):
            for j, addr in enumerate(addrs):
                errs += _slice_address_errors(f"{path}.addresses[{j}]", addr, address_type)
        if ep.get("nodeName") is not None:
            errs += _each(f"{path}.nodeName", ep["nodeName"], dns1123_subdomain(ep["nodeName"]))
        if ep.get("hostname") is not None:
            errs += _each(f"{path}.hostname", ep["hostname"], dns1123_label(ep["hostname"]))
    ports = obj.get("ports") or []
    if len(ports) > MAX_SLICE_PORTS:
        return errs + [("ports", f"Too many: {len(ports)}: must have at most {MAX_SLICE_PORTS} items")]
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        if port["name"]:
            errs += _each(f"{path}.name", port["name"], dns1123_label(port["name"]))
        if port["name"] in names:
            errs.append((f"{path}.name", duplicate(port["name"])))
        names.add(port["name"])
        if port["protocol"] not in PROTOCOLS:
            errs.append((f"{path}.protocol", unsupported(port["protocol"], PROTOCOLS)))
        if port.get("port") is not None:
            errs += _each(f"{path}.port", port["port"], port_num(port["port"]))
        if port.get("appProtocol") is not None:
            errs += _each(f"{path}.appProtocol", port["appProtocol"], qualified_name(port["appProtocol"]))
    return errs


def _slice_address_errors(path: str, value: str, address_type: str) -> list[FieldError]:
    ip = parse_ip(value)
    want = 4 if address_type == "IPv4" else 6
    if ip is None or ip.version != want:
        return [(path, invalid(value, f"must be a valid {address_type} address"))]
    return non_special_ip(path, value)


# ---- Pod and Namespace (only what lb reads) ----


def validate_pod(obj: dict) -> list[FieldError]:
    """Metadata, container ports and pod IPs; the rest of a PodSpec is not lb's business."""
    errs = validate_meta(obj, dns1123_subdomain)
    for i, container in enumerate((obj.get("spec") or {}).get("containers") or []):
        names: set[str] = set()
        for j, port in enumerate(container.get("ports") or []):
            path = f"spec.containers[{i}].ports[{j}]"
            name = port.get("name") or ""
            if name:
                msgs = port_name(name)
                errs += _each(f"{path}.name", name, msgs)
                if not msgs and name in names:
                    errs.append((f"{path}.name", duplicate(name)))
                names.add(name)
            number = port.get("containerPort") or 0
            if not number:
                errs.append((f"{path}.containerPort", required()))
            else:
                errs += _each(f"{path}.containerPort", number, port_num(number))
            if port["protocol"] not in PROTOCOLS:
                errs.append((f"{path}.protocol", unsupported(port["protocol"], PROTOCOLS)))
    status = obj.get("status") or {}
    if status.get("podIP"):
        errs += ip_errors("status.podIP", status["podIP"])
    for i, entry in enumerate(status.get("podIPs") or []):
        errs += ip_errors(f"status.podIPs[{i}].ip", entry.get("ip") or "")
    return errs


def validate_namespace(obj: dict) -> list[FieldError]:
    return validate_meta(obj, dns1123_label, namespaced=False)
