"""Giving freed heap back to the kernel after a load or reload.

A load builds and drops many short-lived objects (parsed YAML, old plans); CPython frees
them, but glibc keeps the freed heap mapped unless told otherwise, so a process that loaded
10,000 Services holds their transient peak as RSS for good. malloc_trim(0) (glibc), as
HAProxy calls after it releases its pools, returns the free pages; it costs about a
millisecond at that size. A no-op where the C library has no malloc_trim (musl).
"""
from __future__ import annotations

import ctypes

_trim = None


def release_free_memory() -> None:
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL("libc.so.6").malloc_trim     # not find_library: it runs ldconfig
            _trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)
