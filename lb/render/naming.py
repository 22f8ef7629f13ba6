"""kube-proxy's chain and set names, computed exactly as kube-proxy computes them so a
rendered ruleset can be diffed against a real node's.

iptables (pkg/proxy/iptables/proxier.go portProtoHash, servicePortEndpointChainName):
    "KUBE-SVC-" + base32(sha256(servicePortName + protocol))[:16]
    "KUBE-SEP-" + base32(sha256(servicePortName + protocol + "ip:port"))[:16]
with servicePortName "ns/name:port" ("ns/name" for an unnamed port) and protocol in lower
case ("tcp"). Chain names must fit iptables' 28 characters, hence the hash.

nftables (pkg/proxy/nftables/proxier.go hashAndTruncate, servicePortChainNameBase):
    base32(sha256(name))[:8] + "-" + name, name = "ns/name/tcp/port"
    endpoints add "__ip/port" with an IPv6 address's ":" turned into "." (not allowed in
    an nftables chain name).
"""
from __future__ import annotations

import base64
import hashlib


# nftables' name length limit (knftables.NameLengthMax) minus the longest prefix.
NFT_NAME_LENGTH_MAX = 256
NFT_CHAIN_NAME_BASE_MAX = NFT_NAME_LENGTH_MAX - 16


def _b32sha(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()


def port_proto_hash(port_name: str, protocol: str) -> str:
    return _b32sha(port_name + protocol.lower())[:16]


def iptables_svc_chain(port_name: str, protocol: str) -> str:
    return "KUBE-SVC-" + port_proto_hash(port_name, protocol)


def iptables_ext_chain(port_name: str, protocol: str) -> str:
    return "KUBE-EXT-" + port_proto_hash(port_name, protocol)


def iptables_fw_chain(port_name: str, protocol: str) -> str:
    return "KUBE-FW-" + port_proto_hash(port_name, protocol)


def iptables_sep_chain(port_name: str, protocol: str, endpoint: str) -> str:
    return "KUBE-SEP-" + _b32sha(port_name + protocol.lower() + endpoint)[:16]


def _hash_and_truncate(name: str) -> str:
    name = _b32sha(name)[:8] + "-" + name
    if len(name) > NFT_CHAIN_NAME_BASE_MAX:
        name = name[:NFT_CHAIN_NAME_BASE_MAX - 3] + "..."
    return name


def nft_service_base(namespace: str, name: str, protocol: str, port_name: str) -> str:
    """"ULMVA6XW-ns1/svc1/tcp/p80"; prefixed with service-, external-, firewall-."""
    return _hash_and_truncate(f"{namespace}/{name}/{protocol.lower()}/{port_name}")


def nft_endpoint_base(namespace: str, name: str, protocol: str, port_name: str,
                      ip: str, port: int) -> str:
    """"5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"; prefixed with endpoint-, affinity-."""
    ip = ip.replace(":", ".")
    return _hash_and_truncate(f"{namespace}/{name}/{protocol.lower()}/{port_name}__{ip}/{port}")
