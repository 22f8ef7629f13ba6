"""`lb describe svc|endpoints|endpointslices|pods` in kubectl describe's layouts
(kubectl pkg/describe/describe.go: describeService, describeEndpoints,
describeEndpointSliceV1, describePod). Each page is tab-separated lines, indented two
spaces a level, aligned by tabwrite(minwidth 0, padding 2). lb keeps no event history: a
page ends in `Events: <none>`, as for an object nothing happened to, except when lb has
something to warn about now (an ExternalName target that does not resolve), shown as
kubectl shows a Warning event.

describe pod covers what a Pod manifest for lb holds: identity, node, status, IPs,
containers (image, ports, command, state, resources, probes' presence, environment,
mounts), conditions, volumes (emptyDir, configMap, secret, hostPath described; other
kinds named), QoS class, node selectors and tolerations.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from lb.addresses import host_port
from lb.kubectl.cells import format_labels, ingress_text, more, parse_time
from lb.kubectl.items import Item
from lb.kubectl.tabwriter import DESCRIBE_MINWIDTH, DESCRIBE_PADDING, tabwrite
from lb.snapshot import ServiceView

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ANNOTATION_LEN = 140       # longer annotation values are cut, as kubectl's maxAnnotationLen


class Page:
    """describe's PrefixWriter: lines at a level (two spaces each), tabs between cells."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.events: list[tuple[str, str, str]] = []     # (type, reason, message)

    def __call__(self, text: str, level: int = 0) -> None:
        self.lines.append("  " * level + text)

    def optional(self, title: str, value, level: int = 0) -> None:
        """`Title:<tab>value`, left out when value is empty or 0 (kubectl's `if x != ""`)."""
        if value:
            self(f"{title}:\t{value}", level)

    def heading(self, title: str, present, none: str = "\t<none>", level: int = 0) -> None:
        """`Title:` over the lines that follow, or `Title:<none>` when nothing follows."""
        self(f"{title}:{'' if present else none}", level)

    def labels(self, title: str, labels: Mapping | None, level: int = 0) -> None:
        keys = sorted(labels or {})
        if not keys:
            self(f"{title}:\t<none>", level)
        for i, key in enumerate(keys):
            self(f"{title + ':' if i == 0 else ''}\t{key}={labels[key]}", level)

    def annotations(self, annotations: Mapping | None) -> None:
        keys = sorted(k for k in (annotations or {}) if k != LAST_APPLIED)
        if not keys:
            self("Annotations:\t<none>")
        for i, key in enumerate(keys):
            title = "Annotations:" if i == 0 else ""
            value = str(annotations[key]).removesuffix("\n")
            if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
                self(f"{title}\t{key}:")
                for line in value.split("\n"):
                    cut = MAX_ANNOTATION_LEN - 2
                    self(f"\t  {line[:cut] + '...' if len(line) > cut else line}")
            else:
                self(f"{title}\t{key}: {value}")

    def warning(self, reason: str, message: str) -> None:
        self.events.append(("Warning", reason, message))

    def text(self) -> str:
        out = tabwrite("\n".join(self.lines + ["Events:\t<none>"] * (not self.events)) + "\n",
                       DESCRIBE_MINWIDTH, DESCRIBE_PADDING)
        if self.events:
            # kubectl's DescribeEvents: its own table under `Events:`, age <unknown> for no timestamp
            rows = ["Type\tReason\tAge\tFrom\tMessage", "----\t------\t----\t----\t-------"]
            rows += [f"{kind}\t{reason}\t<unknown>\tlb\t{message}" for kind, reason, message in self.events]
            out += "Events:\n" + "".join("  " + line + "\n" for line in
                                         tabwrite("\n".join(rows) + "\n", DESCRIBE_MINWIDTH, DESCRIBE_PADDING).splitlines())
        return out


def _meta(page: Page, manifest: Mapping, name: str, namespace: str) -> None:
    meta = manifest.get("metadata") or {}
    page(f"Name:\t{name}")
    page(f"Namespace:\t{namespace}")
    page.labels("Labels", meta.get("labels"))
    page.annotations(meta.get("annotations"))


# --- Service ------------------------------------------------------------------------

def describe_service(view: ServiceView, has_endpoint_sets: bool, names: Mapping | None = None) -> str:
    """kubectl describe service. Endpoints per port are the ready ones (3 listed);
    <none> when no Endpoints/EndpointSlice exists for the Service at all. An ExternalName
    Service with ports (lb forwards it) shows its forward IP and, when its target was
    looked up (names: name -> (addresses, error)), the addresses it forwards to."""
    svc = view.service
    target = (names or {}).get((svc.external_name or "").rstrip(".").lower()) if svc.forward_ip else None
    spec = (svc.manifest or {}).get("spec") or {}
    page = Page()
    page(f"Name:\t{svc.name}")
    page(f"Namespace:\t{svc.namespace}")
    page.labels("Labels", svc.labels)
    page.annotations(svc.annotations)
    page(f"Selector:\t{format_labels(svc.selector)}")
    page(f"Type:\t{svc.type}")
    page.optional("IP Family Policy", svc.ip_family_policy)
    page(f"IP Families:\t{','.join(svc.ip_families) or '<none>'}")
    page(f"IP:\t{svc.cluster_ip or svc.forward_ip}")
    page(f"IPs:\t{','.join(svc.cluster_ips or ((svc.forward_ip,) if svc.forward_ip else ())) or '<none>'}")
    page.optional("External IPs", ",".join(svc.external_ips))
    page.optional("Desired LoadBalancer IP", svc.load_balancer_ip)
    page.optional("External Name", svc.external_name)
    page.optional("LoadBalancer Ingress", ingress_text(svc))
    for rp in view.ports:
        sp = rp.port
        name = sp.name or "<unset>"
        page(f"Port:\t{name}\t{sp.port}/{sp.protocol}")
        page(f"TargetPort:\t{sp.target_port}/{sp.protocol}")
        page.optional("AppProtocol", sp.app_protocol)
        if sp.node_port:
            page(f"NodePort:\t{name}\t{sp.node_port}/{sp.protocol}")
        if target is not None:
            ready = [host_port(ip, sp.target_port) for ip in target[0] or ()] if isinstance(sp.target_port, int) else []
            page(f"Endpoints:\t{more(ready, len(ready)) if ready else '<none>'}")
            continue
        ready = [ep.address for ep in rp.endpoints if ep.ready]
        page(f"Endpoints:\t{more(ready, len(ready)) if has_endpoint_sets else '<none>'}")
    page(f"Session Affinity:\t{svc.session_affinity}")
    page.optional("External Traffic Policy", svc.external_traffic_policy)
    page.optional("Internal Traffic Policy", svc.internal_traffic_policy)
    page.optional("HealthCheck NodePort", spec.get("healthCheckNodePort"))
    page.optional("LoadBalancer Source Ranges", ",".join(svc.load_balancer_source_ranges))
    page.optional("Traffic Distribution", spec.get("trafficDistribution"))
    if target is not None and target[0] is None:
        page.warning("FailedToResolve", f"externalName {svc.external_name}: {target[1]}: "
                                        "lb resets connections to it until it resolves")
    return page.text()


# --- Endpoints and EndpointSlices ---------------------------------------------------

def describe_endpoints(item: Item) -> str:
    page = Page()
    _meta(page, item.manifest, item.name, item.namespace)
    page("Subsets:")
    for subset in item.manifest.get("subsets") or []:
        for title, key in (("Addresses", "addresses"), ("NotReadyAddresses", "notReadyAddresses")):
            ips = ",".join(a.get("ip", "") for a in subset.get(key) or [])
            page(f"{title}:\t{ips or '<none>'}", 1)
        if subset.get("ports"):
            page("Ports:", 1)
            page("Name\tPort\tProtocol", 2)
            page("----\t----\t--------", 2)
            for p in subset["ports"]:
                page(f"{p.get('name') or '<unset>'}\t{p.get('port')}\t{p.get('protocol', 'TCP')}", 2)
        page("")
    return page.text()


def describe_endpointslice(item: Item) -> str:
    es = item.manifest
    page = Page()
    _meta(page, es, item.name, item.namespace)
    page(f"AddressType:\t{es.get('addressType', '')}")
    ports = es.get("ports") or []
    if not ports:
        page("Ports: <unset>")
    else:
        page("Ports:")
        page("Name\tPort\tProtocol", 1)
        page("----\t----\t--------", 1)
        for p in ports:
            port = "<unset>" if p.get("port") is None else p["port"]
            page(f"{p.get('name') or '<unset>'}\t{port}\t{p.get('protocol', 'TCP')}", 1)
    endpoints = es.get("endpoints") or []
    page.heading("Endpoints", endpoints, none=" <none>")
    for ep in endpoints:
        page(f"- Addresses:\t{', '.join(ep.get('addresses') or []) or '<none>'}", 1)
        page("Conditions:", 2)
        ready = (ep.get("conditions") or {}).get("ready")
        page(f"Ready:\t{'<unset>' if ready is None else str(ready).lower()}", 3)
        page(f"Hostname:\t{ep.get('hostname') or '<unset>'}", 2)
        ref = ep.get("targetRef")
        if ref:
            page(f"TargetRef:\t{ref.get('kind', '')}/{ref.get('name', '')}", 2)
        page(f"NodeName:\t{ep.get('nodeName') or '<unset>'}", 2)
        page(f"Zone:\t{ep.get('zone') or '<unset>'}", 2)
    return page.text()


# --- Pod ----------------------------------------------------------------------------

def _rfc1123z(text) -> str:
    stamp = parse_time(text)
    if stamp is None:
        return str(text)
    return datetime.fromtimestamp(stamp).astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def describe_pod(item: Item) -> str:
    pod = item.manifest
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    page = Page()
    page(f"Name:\t{item.name}")
    page(f"Namespace:\t{item.namespace}")
    if spec.get("priority") is not None:
        page(f"Priority:\t{spec['priority']}")
    page.optional("Priority Class Name", spec.get("priorityClassName"))
    page.optional("Service Account", spec.get("serviceAccountName"))
    node = spec.get("nodeName")
    page(f"Node:\t{node + '/' + status.get('hostIP', '') if node else '<none>'}")
    page.optional("Start Time", status.get("startTime") and _rfc1123z(status["startTime"]))
    page.labels("Labels", meta.get("labels"))
    page.annotations(meta.get("annotations"))
    phase = status.get("phase", "")
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        page("Status:\tTerminating")
    else:
        page(f"Status:\t{phase}")
    page.optional("Reason", status.get("reason"))
    page.optional("Message", status.get("message"))
    page(f"IP:\t{status.get('podIP', '')}")
    ips = [p.get("ip", "") for p in status.get("podIPs") or []]
    page.heading("IPs", ips)
    for ip in ips:
        page(f"IP:\t{ip}", 1)
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner:
        page(f"Controlled By:\t{owner.get('kind')}/{owner.get('name')}")
    if spec.get("initContainers"):
        _containers(page, "Init Containers", spec["initContainers"], status.get("initContainerStatuses"), pod)
    _containers(page, "Containers", spec.get("containers") or [], status.get("containerStatuses"), pod)
    conditions = status.get("conditions") or []
    if conditions:
        page("Conditions:")
        page("Type\tStatus", 1)
        for c in conditions:
            page(f"{c.get('type')} \t{c.get('status')} ", 1)
    _volumes(page, spec.get("volumes") or [])
    page(f"QoS Class:\t{status.get('qosClass') or qos_class(spec)}")
    page.labels("Node-Selectors", spec.get("nodeSelector"))
    _tolerations(page, spec.get("tolerations") or [])
    return page.text()


def _containers(page: Page, title: str, containers: list, statuses: list | None, pod: Mapping) -> None:
    by_name = {s.get("name"): s for s in statuses or [] if isinstance(s, dict)}
    page.heading(title, containers, none=" <none>")
    for c in containers:
        st = by_name.get(c.get("name"))
        page(f"{c.get('name')}:", 1)
        if st is not None:
            page(f"Container ID:\t{st.get('containerID', '')}", 2)
        page(f"Image:\t{c.get('image', '')}", 2)
        if st is not None:
            page(f"Image ID:\t{st.get('imageID', '')}", 2)
        for key, one, many in (("containerPort", "Port", "Ports"), ("hostPort", "Host Port", "Host Ports")):
            ports = [f"{p.get(key, 0)}/{p.get('protocol', 'TCP')}" + (f" ({p['name']})" if p.get("name") else "")
                     for p in c.get("ports") or []]
            page(f"{many}:\t{', '.join(ports)}" if len(ports) > 1 else f"{one}:\t{ports[0] if ports else '<none>'}", 2)
        for key, heading in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                page(f"{heading}:", 2)
                for line in "\n".join(map(str, c[key])).split("\n"):
                    page(line, 3)
        if st is not None:
            _state(page, "State", st.get("state") or {})
            if (st.get("lastState") or {}).get("terminated"):
                _state(page, "Last State", st["lastState"])
            page(f"Ready:\t{'True' if st.get('ready') else 'False'}", 2)
            page(f"Restart Count:\t{st.get('restartCount', 0)}", 2)
        resources = c.get("resources") or {}
        for key, heading in (("limits", "Limits"), ("requests", "Requests")):
            if resources.get(key):
                page(f"{heading}:", 2)
                for name in sorted(resources[key]):
                    page(f"{name}:\t{resources[key][name]}", 3)
        for key, heading in (("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"),
                             ("startupProbe", "Startup")):
            if c.get(key):
                page(f"{heading}:\t{_probe(c[key])}", 2)
        env = c.get("env") or []
        page.heading("Environment", env, level=2)
        for e in env:
            page(f"{e.get('name')}:\t{_env_value(e, pod)}", 3)
        mounts = sorted(c.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
        page.heading("Mounts", mounts, level=2)
        for m in mounts:
            flags = ["ro" if m.get("readOnly") else "rw"] + ([f'path="{m["subPath"]}"'] if m.get("subPath") else [])
            page(f"{m.get('mountPath')} from {m.get('name')} ({','.join(flags)})", 3)


def _state(page: Page, title: str, state: Mapping) -> None:
    if state.get("running") is not None:
        page(f"{title}:\tRunning", 2)
        page(f"Started:\t{_rfc1123z((state['running'] or {}).get('startedAt'))}", 3)
    elif state.get("terminated") is not None:
        t = state["terminated"] or {}
        page(f"{title}:\tTerminated", 2)
        page.optional("Reason", t.get("reason"), 3)
        page.optional("Message", t.get("message"), 3)
        page(f"Exit Code:\t{t.get('exitCode', 0)}", 3)
        page.optional("Signal", t.get("signal"), 3)
        page(f"Started:\t{_rfc1123z(t.get('startedAt'))}", 3)
        page(f"Finished:\t{_rfc1123z(t.get('finishedAt'))}", 3)
    else:
        page(f"{title}:\tWaiting", 2)
        page.optional("Reason", (state.get("waiting") or {}).get("reason"), 3)


def _probe(probe: Mapping) -> str:
    """DescribeProbe: the action, then its timing with the API's defaults."""
    if probe.get("exec"):
        action = "exec " + str(list(probe["exec"].get("command") or [])).replace("'", "").replace(",", "")
    elif probe.get("httpGet"):
        g = probe["httpGet"]
        action = f"http-get {g.get('scheme', 'HTTP').lower()}://{g.get('host', '')}:{g.get('port')}{g.get('path', '')}"
    elif probe.get("tcpSocket"):
        action = f"tcp-socket {probe['tcpSocket'].get('host', '')}:{probe['tcpSocket'].get('port')}"
    elif probe.get("grpc"):
        action = f"grpc <pod>:{probe['grpc'].get('port')} {probe['grpc'].get('service', '')}"
    else:
        action = "unknown"
    return (f"{action} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
            f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
            f"#failure={probe.get('failureThreshold', 3)}")


FIELD_PATHS = {      # what the downward API would put in an env var (EnvValueRetriever)
    "metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace"),
    "metadata.uid": ("metadata", "uid"), "spec.nodeName": ("spec", "nodeName"),
    "spec.serviceAccountName": ("spec", "serviceAccountName"), "status.hostIP": ("status", "hostIP"),
    "status.podIP": ("status", "podIP"),
}


def _env_value(e: Mapping, pod: Mapping) -> str:
    source = e.get("valueFrom")
    if not source:
        return str(e.get("value", ""))
    if source.get("fieldRef"):
        ref = source["fieldRef"]
        part, key = FIELD_PATHS.get(ref.get("fieldPath"), ("", ""))
        value = (pod.get(part) or {}).get(key, "") if part else ""
        return f"{value} ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath')})"
    if source.get("resourceFieldRef"):
        return f" ({source['resourceFieldRef'].get('resource')})"
    for key, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "config map")):
        if source.get(key):
            ref = source[key]
            return (f"<set to the key '{ref.get('key')}' {'in' if kind == 'secret' else 'of'} {kind} "
                    f"'{ref.get('name')}'>\tOptional: {str(bool(ref.get('optional'))).lower()}")
    return ""


# kubectl writes a volume's lines in one call at level 2: all of them indent four spaces
VOLUME_TYPES = {
    "emptyDir": lambda v: ["Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
                           f"Medium:\t{v.get('medium', '')}", f"SizeLimit:\t{v.get('sizeLimit') or '<unset>'}"],
    "configMap": lambda v: ["Type:\tConfigMap (a volume populated by a ConfigMap)", f"Name:\t{v.get('name', '')}",
                            f"Optional:\t{str(bool(v.get('optional'))).lower()}"],
    "secret": lambda v: ["Type:\tSecret (a volume populated by a Secret)",
                         f"SecretName:\t{v.get('secretName', '')}",
                         f"Optional:\t{str(bool(v.get('optional'))).lower()}"],
    "hostPath": lambda v: ["Type:\tHostPath (bare host directory volume)", f"Path:\t{v.get('path', '')}",
                           f"HostPathType:\t{v.get('type', '')}"],
}


def _volumes(page: Page, volumes: list) -> None:
    page.heading("Volumes", volumes)
    for v in volumes:
        page(f"{v.get('name')}:", 1)
        kind = next((k for k in v if k != "name"), "")
        describe = VOLUME_TYPES.get(kind)
        for line in describe(v[kind] or {}) if describe else [f"Type:\t{kind} (described by kubectl, not by lb)"]:
            page(line, 2)


def _tolerations(page: Page, tolerations: list) -> None:
    if not tolerations:
        page("Tolerations:\t<none>")
        return
    for i, t in enumerate(sorted(tolerations, key=lambda t: t.get("key", ""))):
        text = t.get("key", "") + (f"={t['value']}" if t.get("value") else "") + (
            f":{t['effect']}" if t.get("effect") else "")
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists" if t.get("key") or t.get("effect") else "op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        page(f"{'Tolerations:' if i == 0 else ''}\t{text}")


def qos_class(spec: Mapping) -> str:
    """The Pod's QoS class from its containers' cpu and memory (requests default to limits)."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set, guaranteed = False, bool(containers)
    for c in containers:
        resources = c.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name in ("cpu", "memory"):
            limit, request = limits.get(name), requests.get(name, limits.get(name))
            any_set = any_set or limit is not None or request is not None
            if limit is None or str(request) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
