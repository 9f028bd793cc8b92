"""``model_serving``: weights that sum to 100, unique versions, one canary, routing rules that can apply."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.spec.checks.common import Issue
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.routing import parse_condition, unsafe_literal, unsafe_literal_message
from airflow_aiinfra.spec.suggest import did_you_mean
from airflow_aiinfra.spec.types import shown


def issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    ms = spec.model_serving
    if ms is None:
        return
    total = sum(v.weight for v in ms.versions)
    if total != 100:
        weights = " + ".join(str(v.weight) for v in ms.versions)
        yield ("model_serving", "versions"), f"weights must sum to 100, got {weights} = {total}"
    versions: dict[str, int] = {}
    for i, v in enumerate(ms.versions):
        if v.version in versions:
            yield ("model_serving", "versions", i, "version"), f"duplicate version {v.version!r}"
        versions.setdefault(v.version, i)
    if sum(v.canary for v in ms.versions) > 1:
        yield ("model_serving", "versions"), "at most one version can be the canary"
    for i, rule in enumerate(ms.routing_rules):
        if rule.target_version not in versions:
            yield ("model_serving", "routing_rules", i, "target_version"), (
                f"version {shown(rule.target_version)} is not in model_serving.versions"
                f"{did_you_mean(rule.target_version, versions)}"
            )
        if parse_condition(rule.condition) == ("lit", True) and i != len(ms.routing_rules) - 1:
            yield ("model_serving", "routing_rules", i, "condition"), (
                "the 'default' rule matches everything, so the rules after it never apply; move it last"
            )
    yield from _rollout_issues(spec)
    yield from _routing_issues(spec)


def _router_refuses(router: str, condition: str) -> str | None:
    """Why ``router`` cannot apply the rule, or None: each router's own translator decides (one rule each)."""
    from airflow_aiinfra.errors import RouterExpressionError
    from airflow_aiinfra.serving.haproxy_config import acl_condition
    from airflow_aiinfra.serving.mesh_routes import istio_expressible, kserve_expressible

    if router == "kserve":
        return kserve_expressible(condition)
    if router == "istio":
        return istio_expressible(condition)
    try:
        acl_condition(condition)
    except RouterExpressionError as exc:
        return f"router 'haproxy' cannot express it: {exc}"
    return None


def _routing_issues(spec: Spec) -> Iterator[Issue]:
    ms = spec.model_serving
    assert ms is not None
    router = ms.rollout.router.type
    for i, rule in enumerate(ms.routing_rules):
        path = ("model_serving", "routing_rules", i, "condition")
        node = parse_condition(rule.condition)
        if node == ("lit", True):
            continue
        if (bad := unsafe_literal(node)) is not None:
            yield path, unsafe_literal_message(bad)
            continue
        why = _router_refuses(router, rule.condition)
        if why:
            yield path, why


def _rollout_issues(spec: Spec) -> Iterator[Issue]:
    ms = spec.model_serving
    assert ms is not None
    ex = spec.experiment
    explicit = "rollout" in ms.model_fields_set
    if ex is None or not ex.registered_model:
        if explicit:
            yield ("model_serving", "rollout"), (
                "a rollout needs experiment.registered_model (and model_stage): the canary serves the version "
                "this DAG run registers; add an experiment section or drop rollout"
            )
        return
    canaries = [v for v in ms.versions if v.canary]
    stables = [v for v in ms.versions if not v.canary]
    if len(canaries) != 1 or len(stables) != 1:
        yield ("model_serving", "versions"), (
            f"a rollout needs two slots, one with canary: true (this run's version) and one without (@champion); "
            f"got {len(canaries)} canary and {len(stables)} other versions"
        )
