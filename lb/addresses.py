"""How an address and port are written: ip:port, with brackets around IPv6
([::1]:80), as kubectl, ipvsadm, curl and Go's net.JoinHostPort write them."""


def host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
