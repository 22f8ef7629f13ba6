"""What this kernel offers that lb's peers depend on. lb itself needs none of it."""
from __future__ import annotations

import os

IPVS_PROC = "/proc/net/ip_vs"
IPVS_MISSING = "IPVS not available in this kernel (no /proc/net/ip_vs); lb does not need it"


def ipvs_available() -> bool:
    """True when the ip_vs module is loaded (kube-proxy's ipvs mode could run here)."""
    return os.path.exists(IPVS_PROC)
