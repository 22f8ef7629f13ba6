"""Parsers the annotation declarations share: each takes the annotation's string and returns
the value, or raises ValueError saying what is accepted (the error's text after the value)."""
from __future__ import annotations

import math
import re

from lb.config.annotations.registry import Parse


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def one_of(*values: str) -> Parse:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError("supported values: " + ", ".join(f'"{v}"' for v in values))
        return text
    return parse


def seconds(minimum: float = 0.0, maximum: float = 86400.0 * 365) -> Parse:
    """A duration as Go writes one ("30s", "1m30s", "500ms") or a number of seconds ("30")."""
    def parse(text: str) -> float:
        text = text.strip()
        try:
            value = float(text)
        except ValueError:
            if not _DURATION.match(text):
                raise ValueError('must be a duration such as "30s", "1m30s" or "500ms", '
                                 'or a number of seconds') from None
            value = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise ValueError(f"must be from {minimum:g} to {maximum:g} seconds")
        return value
    return parse


def integer(minimum: int, maximum: int) -> Parse:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"must be an integer from {minimum} to {maximum}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"must be an integer from {minimum} to {maximum}")
        return value
    return parse


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError('must be "true" or "false"')
