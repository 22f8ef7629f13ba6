"""Local routes over netlink: how lb makes VIPs local without an address each.

A route of type local (`ip route add local 10.96.0.0/12 dev lo`, "AnyIP") makes every
address it covers local: the kernel delivers connections for them to a socket on the
wildcard address. One route covers a whole service range; VIPs outside it get a /32 or
/128 route each. pyroute2 does the one-off work (links, dumps, a range's route); per-VIP
routes go in batches of messages over one netlink socket, each acknowledged: pyroute2 0.9
spends 0.25-0.9 ms encoding and sending one route (measured here), which 10,000 VIPs
would turn into seconds, while the kernel takes them as fast as they arrive.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

# linux/netlink.h, linux/rtnetlink.h
NLMSG_ERROR = 2
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RT_TABLE_LOCAL = 255
RTPROT_STATIC = 4
RT_SCOPE_HOST = 254
RTN_LOCAL = 2
RTA_DST, RTA_OIF = 1, 4
_HEADER = struct.Struct("=IHHII")          # nlmsghdr: len, type, flags, seq, pid
_RTMSG = struct.Struct("=BBBBBBBBI")        # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_ATTR = struct.Struct("=HH")
BATCH = 512                                 # messages per send: well inside the socket buffers


class NetlinkError(Exception):
    """A route the kernel refused; errno and the route say which and why."""

    def __init__(self, err: int, what: str):
        super().__init__(f"{what}: {os.strerror(err)}")
        self.errno = err


def _route_message(kind: int, flags: int, seq: int, prefix: ipaddress.IPv4Network | ipaddress.IPv6Network,
                   ifindex: int) -> bytes:
    family = socket.AF_INET if prefix.version == 4 else socket.AF_INET6
    dst = prefix.network_address.packed
    body = _RTMSG.pack(family, prefix.prefixlen, 0, 0, RT_TABLE_LOCAL, RTPROT_STATIC, RT_SCOPE_HOST, RTN_LOCAL, 0)
    body += _ATTR.pack(4 + len(dst), RTA_DST) + dst
    body += _ATTR.pack(8, RTA_OIF) + struct.pack("=I", ifindex)
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, seq, 0) + body


class LocalRoutes:
    """Adds and deletes local routes on one interface, in batches; reports each failure."""

    def __init__(self, ifindex: int):
        self.ifindex = ifindex
        self._seq = 0

    def add(self, prefixes: list[str]) -> dict[str, NetlinkError]:
        """Adds a local route for each prefix ("10.96.0.0/12", "10.0.0.5"); returns the ones
        that failed. A route that already exists counts as a failure (EEXIST): not lb's."""
        return self._send(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, prefixes)

    def delete(self, prefixes: list[str]) -> dict[str, NetlinkError]:
        return self._send(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, prefixes)

    def _send(self, kind: int, flags: int, prefixes: list[str]) -> dict[str, NetlinkError]:
        failed: dict[str, NetlinkError] = {}
        if not prefixes:
            return failed
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as s:
            s.bind((0, 0))
            for start in range(0, len(prefixes), BATCH):
                chunk = prefixes[start:start + BATCH]
                pending: dict[int, str] = {}
                out = bytearray()
                for text in chunk:
                    self._seq += 1
                    pending[self._seq] = text
                    out += _route_message(kind, flags, self._seq, ipaddress.ip_network(text, strict=False),
                                          self.ifindex)
                s.sendall(out)
                self._acks(s, pending, failed, "add" if kind == RTM_NEWROUTE else "delete")
        return failed

    @staticmethod
    def _acks(s: socket.socket, pending: dict[int, str], failed: dict[str, NetlinkError], verb: str) -> None:
        while pending:
            data = s.recv(1 << 16)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _flags, seq, _pid = _HEADER.unpack_from(data, offset)
                if kind == NLMSG_ERROR and seq in pending:
                    (code,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                    prefix = pending.pop(seq)
                    if code:
                        failed[prefix] = NetlinkError(-code, f"{verb} local route {prefix}")
                offset += (length + 3) & ~3 if length else len(data)


def interface_index(name: str) -> int:
    """The index of a network interface; OSError when there is none of that name."""
    try:
        return socket.if_nametoindex(name)
    except OSError as e:
        raise OSError(e.errno or errno.ENODEV, f"no interface {name}") from None
