"""Kubernetes' own naming rules (k8s.io/apimachinery validation), so a spec is rejected here, with the rule
and a fix, instead of by the API server when a pod or job is created. Each function returns the problem, or
None when the value is valid."""

from __future__ import annotations

import re

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_ENV = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _fix(value: str, dots: bool = False) -> str:
    keep = "a-z0-9-." if dots else "a-z0-9-"
    out = re.sub(rf"[^{keep}]+", "-", value.strip().lower()).strip("-.")
    return out[:63].rstrip("-.") or "name"


def dns_label(value: str, what: str = "name") -> str | None:
    """Namespaces, volume and container names: 1-63 lowercase letters, digits, '-'."""
    if len(value) <= 63 and _LABEL.fullmatch(value):
        return None
    return (f"{what} {_short(value)} is not a Kubernetes DNS-1123 label (1-63 lowercase letters, digits or '-', "
            f"starting and ending with a letter or digit); did you mean {_fix(value)!r}?")


def dns_subdomain(value: str, what: str = "name") -> str | None:
    """Secrets, ConfigMaps, PVCs, service accounts, priority classes: like a label, '.' allowed, ≤ 253."""
    if len(value) <= 253 and _SUBDOMAIN.fullmatch(value):
        return None
    return (f"{what} {_short(value)} is not a Kubernetes DNS-1123 subdomain (lowercase letters, digits, '-' and "
            f"'.', at most 253, starting and ending with a letter or digit); did you mean {_fix(value, True)!r}?")


def qualified_key(value: str, what: str = "key") -> str | None:
    """Label and annotation keys: ``[prefix/]name``, the prefix a DNS subdomain, the name ≤ 63 characters."""
    prefix, _, name = value.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix)):
        return f"{what} {_short(value)}: its prefix {_short(prefix)} is not a DNS subdomain (e.g. 'example.com/team')"
    if not name or len(name) > 63 or not _QUALIFIED.fullmatch(name):
        return (f"{what} {_short(value)} is not a Kubernetes qualified name: [prefix/]name, the name 1-63 "
                "letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
    return None


def label_value(value: str) -> str | None:
    """Label values: empty, or ≤ 63 letters, digits, '-', '_', '.', starting and ending alphanumeric."""
    if value == "" or (len(value) <= 63 and _QUALIFIED.fullmatch(value)):
        return None
    return (f"label value {_short(value)} is not valid in Kubernetes: at most 63 letters, digits, '-', '_' or "
            f"'.', starting and ending with a letter or digit; e.g. {_fix(value)!r}")


def env_name(value: str) -> str | None:
    """Environment variable names as Kubernetes accepts them (no '=', not empty, not starting with a digit)."""
    if _ENV.fullmatch(value):
        return None
    return (f"environment variable name {_short(value)} is not valid: letters, digits, '_', '-' or '.', not "
            "starting with a digit (e.g. MODEL_DIR)")


def secret_key(value: str) -> str | None:
    """Keys inside a Secret or ConfigMap."""
    if len(value) <= 253 and _SECRET_KEY.fullmatch(value):
        return None
    return f"key {_short(value)} is not a valid Secret key: letters, digits, '-', '_' or '.'"


def _short(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")
