"""The CRDs' ``x-kubernetes-validations`` (CEL) rules that we evaluate, as explicit Python.

JSON Schema cannot evaluate CEL, and no CEL library is in the lock (cel-python resolves beside
it but pulls google-re2's native wheel; see docs/crd_validation.md). So each rule that can
apply to an object we render is written out here by hand, keyed by its exact text, or
matched by a small family pattern (``(has(self.a) ? 1 : 0) + ... <= 1``). A rule found in
neither is *unchecked*: ``crds.validate`` reports it back so tests and the doc can list it.

A check is ``(self, old_self) -> bool``. ``old_self`` is ``MISSING`` on create: transition
rules (those naming ``oldSelf``) are skipped then, exactly as the API server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MISSING: Any = object()
Check = Callable[[Any, Any], bool]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """CEL ``duration()`` (Go's ``time.ParseDuration``): '1h2m', '1.5s', '100ms'. Raises on junk."""
    sign, body = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.lstrip("+"))
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _duration_at_least_1ms(s: Any, _old: Any) -> bool:
    try:
        return duration_seconds(s) >= 1e-3
    except (ValueError, TypeError):
        return False  # the API server rejects an unparsable duration as a rule error too


_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://.+$")
_PORT_NAME_KEY = re.compile(r"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$")


def _port_keys(s: dict[str, Any]) -> bool:
    try:
        return all(0 < int(k) <= 65535 for k in s)
    except ValueError:
        return False


EXACT: dict[str, Check] = {
    # TrainJob (trainer.kubeflow.org/v1alpha1)
    "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')": lambda s, _o: bool(
        _DNS1035.match(s.get("metadata", {}).get("name", ""))
    ),
    "size(self.metadata.name) <= 63": lambda s, _o: len(s.get("metadata", {}).get("name", "")) <= 63,
    "self >= 1": lambda s, _o: s >= 1,
    "self in ['trainer.kubeflow.org/trainjob-controller', 'kueue.x-k8s.io/multikueue']": lambda s, _o: (
        s in ("trainer.kubeflow.org/trainjob-controller", "kueue.x-k8s.io/multikueue")
    ),
    "self == '' || self.matches('^[A-Za-z][A-Za-z0-9+.-]*://.+$')": lambda s, _o: (
        s == "" or bool(_URI.match(s))
    ),
    "has(self.lastUpdatedTime)": lambda s, _o: "lastUpdatedTime" in s,
    # Transition rule, both CRDs: only evaluated on update.
    "self == oldSelf": lambda s, o: s == o,
    # Istio networking (VirtualService, DestinationRule, Gateway, ...)
    "duration(self) >= duration('1ms')": _duration_at_least_1ms,
    "0 < self && self <= 65535": lambda s, _o: 0 < s <= 65535,
    '!self.contains("*")': lambda s, _o: "*" not in s,
    'self != "*"': lambda s, _o: s != "*",
    "self.size() == 0": lambda s, _o: len(s) == 0,
    'self.all(key, !key.contains("*"))': lambda s, _o: all("*" not in k for k in s),
    "self.all(key, key.size() != 0)": lambda s, _o: all(len(k) != 0 for k in s),
    'self in ["", "HTTP", "HTTPS"]': lambda s, _o: s in ("", "HTTP", "HTTPS"),
    'self.all(key, size(key) < 63 && key.matches("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$"))': lambda s, _o: (
        all(len(k) < 63 and _PORT_NAME_KEY.match(k) for k in s)
    ),
    "self.all(key, 0 < int(key) && int(key) <= 65535)": lambda s, _o: _port_keys(s),
    "self.all(l1, self.exists_one(l2, l1.number == l2.number))": lambda s, _o: (
        len([p.get("number") for p in s]) == len({p.get("number") for p in s})
    ),
    "has(self.address) || has(self.network)": lambda s, _o: "address" in s or "network" in s,
}

# `(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) <= 1`: at most one of the fields is set.
_AT_MOST_ONE = re.compile(r"^\(has\(self\.\w+\) \? 1 : 0\)(?: \+ \(has\(self\.\w+\) \? 1 : 0\))+ <= 1$")
_HAS_FIELD = re.compile(r"has\(self\.(\w+)\)")


def check_for(rule: str) -> Check | None:
    """The Python check for a CEL rule's exact text, or None if we do not evaluate it."""
    if rule in EXACT:
        return EXACT[rule]
    if _AT_MOST_ONE.match(rule):
        fields = _HAS_FIELD.findall(rule)
        return lambda s, _o: sum(f in s for f in fields) <= 1
    return None


def is_transition_rule(rule: str) -> bool:
    return "oldSelf" in rule
