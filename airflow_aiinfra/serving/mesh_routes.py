"""Routing rules for the Kubernetes routers: what Istio and KServe can express, and the rendered objects.

Istio matches request headers in a VirtualService's ``match`` blocks: several blocks are ORed, and inside
one block every header test is ANDed (``headers`` must match, ``withoutHeaders`` must not). A condition of
the spec's grammar (:mod:`airflow_aiinfra.spec.routing`) is turned into disjunctive normal form, one block
per alternative: ``==`` is an ``exact`` match, ``!=`` the same under ``withoutHeaders``, ``in [...]`` one
block per value, ``not in [...]`` a ``withoutHeaders`` regex of the escaped values. A name ``user_type``
is the header ``x-user-type`` (HAProxy's ``X-User-Type`` from :func:`.haproxy_config.header_for`,
lowercased, as Istio requires). Literals are limited to HAProxy's safe set ``[A-Za-z0-9_.-]``. Ordering
comparisons, non-string literals, and two tests of one header in one conjunction are refused with a
message naming the part (:func:`istio_expressible`). KServe has no header routing at all
(:func:`kserve_expressible`).

This lives beside :mod:`.haproxy_config` (not in ``kube/``) because it needs the spec's parser, which the
``kube`` layer may not import; the objects themselves are built by :mod:`airflow_aiinfra.kube.serving_objects`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_aiinfra.errors import RouterExpressionError, RoutingSyntaxError
from airflow_aiinfra.kube import serving_objects as so
from airflow_aiinfra.serving.haproxy_config import header_for
from airflow_aiinfra.spec.routing import SAFE_LITERAL, Node, parse_condition, unsafe_literal_message

MAX_BLOCKS = 32
# (header, values, positive): one test of a conjunction
_Test = tuple[str, tuple[str, ...], bool]


def istio_header(name: str) -> str:
    """``user_type`` → ``x-user-type``."""
    return header_for(name).lower()


def _literal(node: Node, condition: str) -> str:
    if node[0] != "lit" or not isinstance(node[1], str):
        shown = f"name {node[1]}" if node[0] == "var" else repr(node[1]) if node[0] == "lit" else "an expression"
        raise RouterExpressionError(f"in {condition!r}: Istio compares a header only with string literals, "
                                    f"not {shown}; write it as a quoted string")
    if not SAFE_LITERAL.fullmatch(node[1]):
        raise RouterExpressionError(f"in {condition!r}: {unsafe_literal_message(node[1])}")
    return node[1]


def _compare(node: Node, condition: str, negate: bool) -> list[list[_Test]]:
    op, left, right = node[1], node[2], node[3]
    if op in ("==", "!="):
        if left[0] != "var" and right[0] == "var":
            left, right = right, left
        if left[0] != "var":
            raise RouterExpressionError(f"in {condition!r}: '{op}' needs a header name on one side")
        positive = (op == "==") != negate
        return [[(istio_header(left[1]), (_literal(right, condition),), positive)]]
    if op == "in" and left[0] == "var" and right[0] == "list":
        header = istio_header(left[1])
        values = tuple(_literal(item, condition) for item in right[1])
        if negate:  # not in: one withoutHeaders test over all values
            return [[(header, values, False)]]
        return [[(header, (v,), True)] for v in values]
    if op == "in":
        raise RouterExpressionError(f"in {condition!r}: Istio expresses only 'name in [...]' with string literals")
    raise RouterExpressionError(f"in {condition!r}: Istio header matches are exact, prefix or regex: the "
                                f"ordering comparison '{op}' cannot be expressed; use ==, != or in")


def _dnf(node: Node, condition: str, negate: bool = False) -> list[list[_Test]]:
    kind = node[0]
    if kind == "not":
        return _dnf(node[1], condition, not negate)
    if kind in ("and", "or"):
        left, right = _dnf(node[1], condition, negate), _dnf(node[2], condition, negate)
        terms = left + right if (kind == "or") != negate else [a + b for a, b in itertools.product(left, right)]
        if len(terms) > MAX_BLOCKS:
            raise RouterExpressionError(f"{condition!r} expands to more than {MAX_BLOCKS} Istio match blocks; "
                                        "simplify it")
        return terms
    if kind == "cmp":
        return _compare(node, condition, negate)
    raise RouterExpressionError(f"in {condition!r}: Istio routes on header comparisons such as "
                                "user_type == 'premium', not on a bare name or literal")


def _block(tests: list[_Test], condition: str) -> so.MatchBlock:
    headers: dict[str, dict[str, str]] = {}
    without: dict[str, dict[str, str]] = {}
    for header, values, positive in tests:
        target = headers if positive else without
        if header in target:
            raise RouterExpressionError(
                f"in {condition!r}: Istio cannot test header {header} twice in one conjunction "
                f"({'headers' if positive else 'withoutHeaders'} is a map); use 'in [...]' or 'not in [...]'")
        if len(values) == 1:
            target[header] = {"exact": values[0]}
        else:
            target[header] = {"regex": "|".join(v.replace(".", "\\.") for v in values)}
    block: dict[str, Any] = {}
    if headers:
        block["headers"] = headers
    if without:
        block["withoutHeaders"] = without
    return block


def istio_match_blocks(condition: str) -> list[so.MatchBlock]:
    """The VirtualService ``match`` blocks for a spec condition; raises :class:`RouterExpressionError`."""
    if condition.strip() == "default":
        raise RouterExpressionError("'default' is the weighted split, not a header rule; do not render it as one")
    try:
        node = parse_condition(condition)
    except RoutingSyntaxError as exc:
        raise RouterExpressionError(str(exc)) from None
    return [_block(term, condition) for term in _dnf(node, condition)]


def istio_expressible(condition: str) -> str | None:
    """None when Istio can express ``condition`` (or it is ``default``), else a message naming what it cannot."""
    if condition.strip() == "default":
        return None
    try:
        istio_match_blocks(condition)
    except RouterExpressionError as exc:
        return f"router istio: {exc}"
    return None


def kserve_expressible(condition: str) -> str | None:
    """KServe splits by weight only: every header rule is an error (``default`` is the split itself)."""
    if condition.strip() == "default":
        return None
    return (f"router kserve has no header routing, so the rule {condition!r} cannot be applied: remove it "
            "(keep only 'default'), or use router type istio or haproxy for header rules")


# --- what `aiinfra render` shows ---------------------------------------------------------------------------
RUN_TIME_URI = "s3://resolved-at-run-time/artifact-uri-of-the-registered-version"


def _settings(spec_router_settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    settings = dict(spec_router_settings)
    return str(settings.pop("type", "")), settings


def render_router_objects(spec_router_settings: Mapping[str, Any], *, canary_weight: int = 0,
                          routes: Sequence[str] = (), model_uri: str = RUN_TIME_URI,
                          version: str = "<champion>") -> list[dict[str, Any]]:
    """The objects a KServe or Istio router creates on a first deploy, from the spec's router block
    (``type`` included, e.g. ``model_dump()``), the canary's weight (0 at first deploy), and the routing
    conditions whose target is the canary slot (``routes``). HAProxy returns [] (its config is
    :mod:`.haproxy_config`)."""
    kind, s = _settings(spec_router_settings)
    if kind == "kserve":
        return [so.inference_service(name=s["inference_service"], namespace=s.get("namespace", "default"),
                                     model_format=s.get("model_format", "mlflow"), storage_uri=model_uri,
                                     version=version, service_account=s.get("service_account"))]
    if kind == "istio":
        ns = s.get("namespace", "default")
        matches = [b for condition in routes for b in istio_match_blocks(condition)]
        return [
            so.destination_rule(name=s["destination_rule"], namespace=ns, host=s["host"],
                                subset_label=s.get("subset_label", "aiinfra.io/slot")),
            so.virtual_service(name=s["virtual_service"], namespace=ns, host=s["host"], canary_weight=canary_weight,
                               header_matches=matches, header_to_canary=canary_weight > 0),
        ]
    return []


def render_router_patches(spec_router_settings: Mapping[str, Any], *, steps: Sequence[int],
                          routes: Sequence[str] = (), model_uri: str = RUN_TIME_URI,
                          version: str = "<new version>") -> list[tuple[str, dict[str, Any]]]:
    """(what it does, merge-patch body) for each change a rollout through ``steps`` sends, in order."""
    kind, s = _settings(spec_router_settings)
    out: list[tuple[str, dict[str, Any]]] = []
    if kind == "kserve":
        fmt, sa = s.get("model_format", "mlflow"), s.get("service_account")
        out.append(("deploy_canary: new revision at 0 %", so.kserve_canary_patch(
            model_format=fmt, storage_uri=model_uri, version=version, service_account=sa)))
        out += [(f"canary weight {w} %", so.kserve_weight_patch(w)) for w in steps]
        out.append(("promote", so.kserve_promote_patch(version)))
        out.append(("rollback", so.kserve_weight_patch(0)))
    elif kind == "istio":
        matches = [b for condition in routes for b in istio_match_blocks(condition)]

        def http(weight: int, to_canary: bool) -> dict[str, Any]:
            return so.virtual_service_patch(so.istio_http(host=s["host"], canary_weight=weight,
                                                          header_matches=matches, header_to_canary=to_canary))

        out.append(("deploy_canary: canary drained while its model server loads", http(0, False)))
        out += [(f"canary weight {w} %", http(w, True)) for w in steps]
        out.append(("promote: all traffic on the canary while stable reloads", http(100, True)))
        out.append(("promote/rollback: all traffic on stable, header route to stable", http(0, False)))
    return out
