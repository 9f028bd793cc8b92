"""``model_serving``: weights that sum to 100, unique versions, one canary, routing rules that can apply."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.spec.checks.common import Issue
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.routing import parse_condition
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
