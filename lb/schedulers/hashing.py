"""The hashes of ext/sched_slots.pyx: FNV-1a 64 from a seeded offset basis, finished with
MurmurHash3's fmix64. The numbers are those of ext/includes/consts.pxi; every node computes the
same values, so sh and mh answer alike on every node given the same endpoints."""
import ipaddress

MASK = (1 << 64) - 1
FNV64_OFFSET = 0xcbf29ce484222325
FNV64_PRIME = 0x100000001b3
FMIX_C1 = 0xff51afd7ed558ccd
FMIX_C2 = 0xc4ceb9fe1a85ec53
HASH_MUL = 0x9E3779B97F4A7C15
SEED_MH_OFFSET = 0x6d686f6666736574
SEED_MH_SKIP = 0x6d68736b69700000
SEED_LOOKUP = 0x6c6f6f6b75700000
SEED_SLOW_START = 0x736c6f7773746172


def fmix64(h):
    h ^= h >> 33
    h = (h * FMIX_C1) & MASK
    h ^= h >> 33
    h = (h * FMIX_C2) & MASK
    return h ^ (h >> 33)


def hash64(data, seed):
    """FNV-1a 64 of data (bytes) from the offset basis xor seed, finished with fmix64."""
    h = FNV64_OFFSET ^ seed
    for b in data:
        h = ((h ^ b) * FNV64_PRIME) & MASK
    return fmix64(h)


def ip16(ip):
    """An address as the core keys clients: 16 bytes, IPv4 as ::ffff:a.b.c.d."""
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return b"\0" * 10 + b"\xff\xff" + a.packed
    return a.packed


def client_hash(client16, port, with_port, seed):
    """The hash of a client (its 16-byte address, and its port in network order with_port)."""
    return hash64(client16 + (port.to_bytes(2, "big") if with_port else b""), seed)


def endpoint_name(ip, port):
    """The "ip:port" text consistent hashing keys an endpoint on ("[ip]:port" for IPv6; an
    IPv4-mapped address as IPv4), as glibc's inet_ntop writes the address."""
    a = ipaddress.ip_address(ip)
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    if a.version == 4:
        return f"{a}:{port}"
    p = a.packed
    if p[:12] == bytes(12) and p[12:14] != b"\0\0":
        # inet_ntop writes ::a.b.c.d for the old IPv4-compatible form
        return f"[::{ipaddress.IPv4Address(p[12:])}]:{port}"
    return f"[{a.compressed}]:{port}"
