"""Render ``haproxy.cfg`` for a canary split: a pure function of a plain description, no I/O.

The config is what the runtime API then steers: one backend with the stable and canary servers under
``balance roundrobin`` (their weights are the split, changed later with ``set weight`` and no reload),
and ``use-server`` rules that send header-matched requests (the spec's routing rules) to the canary
whatever its weight. A server in maintenance is skipped by ``use-server`` (HAProxy then load-balances),
so putting the canary in ``maint`` at weight 0 sends *all* traffic back to stable.

Failures are never hidden: no ``retry-on``, no redispatch, ``retries 0``; ``option http-ignore-probes``
keeps a load generator's pre-connect probes from counting as HTTP 400s. The model servers' ``/admin``
and ``/metrics`` are refused on the public frontend. HAProxy's own Prometheus exporter listens on a
port of its own.

Routing conditions use the spec's grammar (:mod:`airflow_aiinfra.spec.routing`) over request headers: a
name ``user_type`` is the header ``X-User-Type``. Only what HAProxy expresses exactly is rendered:
``==``, ``!=``, ``in``, ``not in``, ``and``, ``or``, ``not`` between a name and string literals of
``[A-Za-z0-9_.-]``; the condition becomes HAProxy's ``if A B || C`` form (disjunctive normal form,
since HAProxy conditions have no parentheses). Anything else raises :class:`RouterExpressionError`
naming the part that cannot be expressed, so nothing unchecked ever reaches the file.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from airflow_aiinfra.errors import RouterExpressionError
from airflow_aiinfra.spec.routing import (
    SAFE_LITERAL,
    Node,
    RoutingSyntaxError,
    parse_condition,
    unsafe_literal_message,
)

SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
HEADER_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])")
MAX_WEIGHT = 256
MAX_ALTERNATIVES = 32
BLOCKED_PATHS = ("/admin", "/metrics")


@dataclass(frozen=True)
class HaproxyServer:
    """One model-server slot: ``name`` is what ``set weight BACKEND/NAME`` addresses."""

    name: str
    address: str  # host:port
    weight: int


@dataclass(frozen=True)
class HeaderRoute:
    """Requests matching ``condition`` (spec grammar over headers) always go to server ``server``."""

    condition: str
    server: str


@dataclass(frozen=True)
class HaproxySite:
    bind: str  # host:port of the public frontend
    runtime_api: str  # host:port (TCP, level admin) or an absolute unix socket path
    servers: tuple[HaproxyServer, ...]
    backend: str = "model_serving"
    routes: tuple[HeaderRoute, ...] = ()
    exporter_bind: str | None = None  # host:port of HAProxy's Prometheus exporter (/metrics)
    health_check_path: str | None = None  # e.g. "/ready": HAProxy takes servers that fail it out
    timeouts: dict[str, str] = field(default_factory=lambda: {
        "connect": "2s", "client": "30s", "server": "30s", "http-request": "10s", "http-keep-alive": "10s",
    })
    maxconn: int = 4096


def header_for(name: str) -> str:
    """The request header a condition variable reads: ``user_type`` → ``X-User-Type``."""
    if not HEADER_VARIABLE.fullmatch(name):
        raise RouterExpressionError(
            f"routing variable {name!r} cannot name an HTTP header: use letters, digits and '_' "
            f"(e.g. user_type for X-User-Type)"
        )
    return "X-" + "-".join(part.capitalize() for part in name.split("_") if part)


# --- conditions → HAProxy ACL conditions -----------------------------------------------------------------
@dataclass(frozen=True)
class _Match:
    header: str
    values: tuple[str, ...]
    positive: bool

    def render(self) -> str:
        test = f"{{ req.fhdr({self.header},-1) -m str {' '.join(self.values)} }}"
        return test if self.positive else "!" + test

    def negated(self) -> _Match:
        return _Match(self.header, self.values, not self.positive)


Dnf = list[list[_Match]]  # OR of ANDs


def _literal(node: Node, condition: str) -> str:
    if node[0] != "lit":
        raise RouterExpressionError(
            f"in {condition!r}: HAProxy can compare a header only with string literals, not {_show(node)}"
        )
    value = node[1]
    if not isinstance(value, str):
        raise RouterExpressionError(
            f"in {condition!r}: {value!r} is not a string; HAProxy compares header text, write it as '{value}'"
        )
    if not SAFE_LITERAL.fullmatch(value):
        raise RouterExpressionError(f"in {condition!r}: {unsafe_literal_message(value)}")
    return value


def _show(node: Node) -> str:
    kind = node[0]
    if kind == "var":
        return f"name {node[1]}"
    if kind == "lit":
        return f"literal {node[1]!r}"
    if kind == "list":
        return "a list"
    return f"a nested {kind!r} expression"


def _compare(node: Node, condition: str) -> _Match:
    op, left, right = node[1], node[2], node[3]
    if op in ("==", "!="):
        if left[0] != "var" and right[0] == "var":
            left, right = right, left
        if left[0] != "var":
            raise RouterExpressionError(f"in {condition!r}: '{op}' needs a header name on one side")
        match = _Match(header_for(left[1]), (_literal(right, condition),), op == "==")
        return match
    if op == "in":
        if left[0] != "var" or right[0] != "list":
            raise RouterExpressionError(
                f"in {condition!r}: HAProxy expresses only 'name in [...]' with a list of string literals"
            )
        return _Match(header_for(left[1]), tuple(_literal(item, condition) for item in right[1]), True)
    raise RouterExpressionError(
        f"in {condition!r}: the ordering comparison '{op}' cannot be expressed as an HAProxy header match; "
        f"use ==, != or in"
    )


def _dnf(node: Node, condition: str, negate: bool = False) -> Dnf:
    kind = node[0]
    if kind == "not":
        return _dnf(node[1], condition, not negate)
    if kind in ("and", "or"):
        left, right = _dnf(node[1], condition, negate), _dnf(node[2], condition, negate)
        if (kind == "or") != negate:  # or, or a negated and (De Morgan)
            terms = left + right
        else:
            terms = [a + b for a, b in itertools.product(left, right)]
        if len(terms) > MAX_ALTERNATIVES:
            raise RouterExpressionError(
                f"{condition!r} expands to more than {MAX_ALTERNATIVES} alternatives in HAProxy's "
                f"'A B || C' form; simplify it (e.g. use 'in [...]')"
            )
        return terms
    if kind == "cmp":
        match = _compare(node, condition)
        return [[match.negated() if negate else match]]
    raise RouterExpressionError(
        f"in {condition!r}: {_show(node)} is not a comparison; HAProxy routes on comparisons such as "
        f"user_type == 'premium'"
    )


def acl_condition(condition: str) -> str:
    """The HAProxy condition (``{ req.fhdr(X-User-Type,-1) -m str premium } || ...``) for a spec condition.

    ``-1`` reads the last occurrence of a header, so a repeated header cannot match both ``==`` and ``!=``.
    Raises :class:`RouterExpressionError` for anything HAProxy cannot express exactly, including ``default``
    (the weighted split, not a header rule)."""
    if condition.strip() == "default":
        raise RouterExpressionError("'default' is the weighted split, not a header rule; do not render it as one")
    try:
        node = parse_condition(condition)
    except RoutingSyntaxError as exc:
        raise RouterExpressionError(str(exc)) from None
    terms = _dnf(node, condition)
    return " || ".join(" ".join(m.render() for m in term) for term in terms)


# --- the file ---------------------------------------------------------------------------------------------
def _address(value: str, what: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise RouterExpressionError(f"{what} {value!r} is not host:port (e.g. 127.0.0.1:8001)")
    return value


def _name(value: str, what: str) -> str:
    if not SAFE_NAME.fullmatch(value):
        raise RouterExpressionError(f"{what} {value!r} must be 1-64 characters of [A-Za-z0-9_.-]")
    return value


def _runtime_socket(value: str) -> str:
    if value.startswith("/"):
        if not re.fullmatch(r"/[A-Za-z0-9_./-]+", value):
            raise RouterExpressionError(f"runtime API socket path {value!r} must be of [A-Za-z0-9_./-]")
        return f"{value} mode 600 level admin"
    return f"ipv4@{_address(value, 'runtime API address')} level admin"


def render_haproxy_config(site: HaproxySite) -> str:
    """``haproxy.cfg`` text for ``site``; every name, address and literal is checked before it is written."""
    backend = _name(site.backend, "backend name")
    if not site.servers:
        raise RouterExpressionError(f"backend {backend!r} needs at least one server")
    names = [_name(s.name, "server name") for s in site.servers]
    if len(set(names)) != len(names):
        raise RouterExpressionError(f"server names must be unique in backend {backend!r}, got {names}")
    for s in site.servers:
        _address(s.address, f"server {s.name!r} address")
        if not 0 <= s.weight <= MAX_WEIGHT:
            raise RouterExpressionError(f"server {s.name!r} weight {s.weight} is outside 0..{MAX_WEIGHT}")
    for key, value in site.timeouts.items():
        if not re.fullmatch(r"[a-z-]+", key) or not re.fullmatch(r"\d+(ms|s|m|h)?", value):
            raise RouterExpressionError(f"timeout {key}={value!r}: use a HAProxy time such as 2s or 500ms")

    lines = [
        "# Rendered by airflow_aiinfra.serving.haproxy_config: do not edit, re-render it.",
        "global",
        f"    stats socket {_runtime_socket(site.runtime_api)}",
        "    stats timeout 30s",
        f"    maxconn {int(site.maxconn)}",
        "",
        "defaults",
        "    mode http",
        *(f"    timeout {k} {v}" for k, v in site.timeouts.items()),
        "    option http-ignore-probes",
        "    no option redispatch",
        "    retries 0",
        "",
        f"frontend fe_{backend}",
        f"    bind {_address(site.bind, 'frontend bind')}",
        "    http-request deny deny_status 404 if " + " || ".join(f"{{ path_beg {p} }}" for p in BLOCKED_PATHS),
        f"    default_backend {backend}",
        "",
        f"backend {backend}",
        "    balance roundrobin",
    ]
    if site.health_check_path is not None:
        if not re.fullmatch(r"/[A-Za-z0-9_./-]*", site.health_check_path):
            raise RouterExpressionError(f"health check path {site.health_check_path!r} must be of [A-Za-z0-9_./-]")
        lines.append(f"    option httpchk GET {site.health_check_path}")
    for route in site.routes:
        if route.server not in names:
            raise RouterExpressionError(
                f"routing rule {route.condition!r} targets server {route.server!r}, not one of {names}"
            )
        lines.append(f"    use-server {route.server} if {acl_condition(route.condition)}")
    check = " check inter 1s fall 2 rise 1" if site.health_check_path is not None else ""
    lines += [f"    server {s.name} {s.address} weight {s.weight}{check}" for s in site.servers]
    if site.exporter_bind is not None:
        lines += [
            "",
            "frontend fe_prometheus",
            f"    bind {_address(site.exporter_bind, 'exporter bind')}",
            "    http-request use-service prometheus-exporter if { path /metrics }",
            "    no log",
        ]
    return "\n".join(lines) + "\n"
