"""Kubernetes resource quantities: validation and "did you mean" fixes.

Mirrors the grammar of k8s.io/apimachinery's resource.Quantity so a spec is
rejected here, with a fix, instead of by the API server when the pod is created.
"""

from __future__ import annotations

import re

_QUANTITY = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY_SUFFIX = {"k": "Ki", "kb": "Ki", "kib": "Ki", "m": "Mi", "mb": "Mi", "mib": "Mi", "g": "Gi", "gb": "Gi",
                  "gib": "Gi", "t": "Ti", "tb": "Ti", "tib": "Ti", "p": "Pi", "pb": "Pi", "pib": "Pi"}


def is_quantity(value: str) -> bool:
    return bool(_QUANTITY.match(value))


def suggest_memory(value: str) -> str | None:
    """``16GB`` → ``16Gi``, ``512mb`` → ``512Mi``, ``2 gi`` → ``2Gi``."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$", value)
    if not m:
        return None
    suffix = _BINARY_SUFFIX.get(m.group(2).lower())
    return f"{m.group(1)}{suffix}" if suffix else None


def suggest_cpu(value: str) -> str | None:
    """``2cpu`` / ``2 cores`` → ``2``, ``500 m`` → ``500m``."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(cpus?|cores?|vcpus?|m|millicores?)?\s*$", value, re.IGNORECASE)
    if not m:
        return None
    unit = (m.group(2) or "").lower()
    return f"{m.group(1)}m" if unit.startswith("m") else m.group(1)


def to_number(value: str) -> float:
    """Numeric value of a quantity (for comparisons such as requests <= limits)."""
    m = _QUANTITY.match(value)
    if not m:
        raise ValueError(value)
    number = float(m.group(1))
    suffix = m.group(3) or ""
    if suffix.endswith("i"):
        return number * 1024 ** ("KMGTPE".index(suffix[0]) + 1)
    if suffix[:1] in ("e", "E"):
        return number * 10 ** int(suffix[1:])
    scale = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    return number * scale[suffix]
