"""Strict decoding, as kubectl and the API server do it: the fields each kind may hold and
their JSON types. Unknown fields are warnings (kubectl's "unknown field"), wrong types are
errors (the API server cannot decode the object, so nothing more is checked).

check_fields first takes the fast road: one walk that only answers "clean or not" (no
paths built); the common, clean manifest never pays for the paths of its fields.
"""
from __future__ import annotations

from lb.config.validate import GoText, go_value
from lb.diagnostics import invalid

STR, INT, BOOL, ANY, INT_OR_STR = "string", "integer", "boolean", "any", "integer or string"


class Open(dict):
    """A struct whose fields beyond those listed are accepted silently (Pod: lb
    reads only a few of its many fields)."""


class MapOf:
    """A map with free-form keys (labels, selector, annotations)."""

    def __init__(self, value: str) -> None:
        self.value = value


_STRMAP = MapOf(STR)
_META = {
    "name": STR, "generateName": STR, "namespace": STR, "labels": _STRMAP, "annotations": _STRMAP,
    "uid": STR, "resourceVersion": STR, "generation": INT, "creationTimestamp": STR,
    "deletionTimestamp": STR, "deletionGracePeriodSeconds": INT, "ownerReferences": [ANY],
    "finalizers": [STR], "managedFields": [ANY], "selfLink": STR,
}
_TYPE_META = {"apiVersion": STR, "kind": STR, "metadata": _META}
_TARGET_REF = {"kind": STR, "namespace": STR, "name": STR, "uid": STR, "apiVersion": STR,
               "resourceVersion": STR, "fieldPath": STR}
_SERVICE = {**_TYPE_META, "spec": {
    "ports": [{"name": STR, "protocol": STR, "appProtocol": STR, "port": INT, "targetPort": INT_OR_STR,
               "nodePort": INT}],
    "selector": _STRMAP, "clusterIP": STR, "clusterIPs": [STR], "type": STR, "externalIPs": [STR],
    "sessionAffinity": STR, "loadBalancerIP": STR, "loadBalancerSourceRanges": [STR], "externalName": STR,
    "externalTrafficPolicy": STR, "healthCheckNodePort": INT, "publishNotReadyAddresses": BOOL,
    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": INT}}, "ipFamilies": [STR],
    "ipFamilyPolicy": STR, "allocateLoadBalancerNodePorts": BOOL, "loadBalancerClass": STR,
    "internalTrafficPolicy": STR, "trafficDistribution": STR,
}, "status": {
    "loadBalancer": {"ingress": [{"ip": STR, "hostname": STR, "ipMode": STR,
                                  "ports": [{"port": INT, "protocol": STR, "error": STR}]}]},
    "conditions": [ANY],
}}
_ENDPOINT_ADDRESS = {"ip": STR, "hostname": STR, "nodeName": STR, "targetRef": _TARGET_REF}
_ENDPOINTS = {**_TYPE_META, "subsets": [{
    "addresses": [_ENDPOINT_ADDRESS], "notReadyAddresses": [_ENDPOINT_ADDRESS],
    "ports": [{"name": STR, "port": INT, "protocol": STR, "appProtocol": STR}],
}]}
_SLICE_ENDPOINT = {
    "addresses": [STR], "conditions": {"ready": BOOL, "serving": BOOL, "terminating": BOOL},
    "hostname": STR, "targetRef": _TARGET_REF, "nodeName": STR, "zone": STR,
    "hints": {"forZones": [{"name": STR}], "forNodes": [{"name": STR}]}, "deprecatedTopology": _STRMAP,
}
_SLICE_PORTS = [{"name": STR, "protocol": STR, "port": INT, "appProtocol": STR}]
_SLICE = {**_TYPE_META, "addressType": STR, "endpoints": [_SLICE_ENDPOINT], "ports": _SLICE_PORTS}
_SLICE_V1BETA1 = {**_SLICE, "endpoints": [{
    **{k: v for k, v in _SLICE_ENDPOINT.items() if k not in ("zone", "deprecatedTopology")},
    "topology": _STRMAP}]}
_POD = {**_TYPE_META, "spec": Open({
    "containers": [Open({"name": STR, "ports": [{"name": STR, "containerPort": INT, "protocol": STR,
                                                  "hostPort": INT, "hostIP": STR}]})],
    "nodeName": STR, "hostname": STR, "subdomain": STR,
}), "status": Open({
    "phase": STR, "podIP": STR, "podIPs": [{"ip": STR}], "hostIP": STR,
    "conditions": [Open({"type": STR, "status": STR})],
})}
_NAMESPACE = {**_TYPE_META, "spec": {"finalizers": [STR]},
              "status": {"phase": STR, "conditions": [ANY]}}
_SCHEMAS = {"Service": _SERVICE, "Endpoints": _ENDPOINTS, "EndpointSlice": _SLICE, "Pod": _POD,
            "Namespace": _NAMESPACE}


def schema_for(kind: str, api_version: str):
    if kind == "EndpointSlice" and api_version.endswith("v1beta1"):
        return _SLICE_V1BETA1
    return _SCHEMAS[kind]


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _shown(value):
    """A wrongly typed value as the API server would print it."""
    if isinstance(value, bool):
        return go_value(value)
    if isinstance(value, (dict, list)):
        return GoText(_json_type(value))
    return value


def check_fields(value, schema, path: str = "") -> tuple[list[str], list[tuple[str, str]]]:
    """(unknown field paths, (field, message) type errors) of value against schema.
    null is accepted anywhere, as the API server's JSON decoding takes it for unset."""
    if _clean(value, schema):
        return [], []
    unknown: list[str] = []
    errors: list[tuple[str, str]] = []
    _check(value, schema, path, unknown, errors)
    return unknown, errors


_SCALAR_TYPES = {STR: (str,), INT: (int,), BOOL: (bool,), INT_OR_STR: (int, str)}


def _clean(value, schema) -> bool:
    """True when value has no unknown field, no wrong type and no null to normalise: nothing
    for _check to report or change. Builds no paths; False sends it the slow way."""
    t = type(value)
    if value is None:
        return False
    st = type(schema)
    if st is str:
        return schema == ANY or t in _SCALAR_TYPES[schema]     # type(), not isinstance: bool is no int
    if st is dict:
        if t is not dict:
            return False
        for key, item in value.items():
            sub = schema.get(key)
            if sub is None or not _clean(item, sub):
                return False
        return True
    if st is Open:
        if t is not dict:
            return False
        for key, item in value.items():
            sub = schema.get(key)
            if sub is not None and not _clean(item, sub):
                return False
            if item is None:
                return False
        return True
    if st is list:
        if t is not list:
            return False
        sub = schema[0]
        for item in value:
            if not _clean(item, sub):
                return False
        return True
    if t is not dict:       # MapOf
        return False
    sub = schema.value
    for item in value.values():
        if not _clean(item, sub):
            return False
    return True


def _check(value, schema, path, unknown, errors) -> None:
    """Also normalises nulls as Go's JSON decoding does: a null field is unset (the
    key is dropped), a null list item or map value is its type's zero value."""
    if value is None or schema == ANY:
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            errors.append((path, _type_error(value, "object")))
            return
        for key in [k for k, item in value.items() if item is None]:
            del value[key]
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if key in schema:
                _check(item, schema[key], child, unknown, errors)
            elif not isinstance(schema, Open):
                unknown.append(child)
    elif isinstance(schema, list):
        if not isinstance(value, list):
            errors.append((path, _type_error(value, "array")))
            return
        for i, item in enumerate(value):
            if item is None and (isinstance(schema[0], dict) or schema[0] == STR):
                value[i] = item = {} if isinstance(schema[0], dict) else ""
            _check(item, schema[0], f"{path}[{i}]", unknown, errors)
    elif isinstance(schema, MapOf):
        if not isinstance(value, dict):
            errors.append((path, _type_error(value, "object")))
            return
        for key, item in value.items():
            if item is None:
                value[key] = ""
            else:
                _check(item, schema.value, f"{path}[{key}]", unknown, errors)
    else:
        ok = {STR: isinstance(value, str),
              INT: isinstance(value, int) and not isinstance(value, bool),
              BOOL: isinstance(value, bool),
              INT_OR_STR: isinstance(value, (int, str)) and not isinstance(value, bool)}[schema]
        if not ok:
            errors.append((path, _type_error(value, schema)))


def _type_error(value, expected: str) -> str:
    got = _json_type(value)
    hint = ""
    if expected == STR and got in ("boolean", "integer", "number"):
        hint = " (YAML reads unquoted yes/no/on/off/true/false and numbers as non-strings: quote the value)"
    return invalid(_shown(value), f"expected {expected}, got {got}{hint}")
