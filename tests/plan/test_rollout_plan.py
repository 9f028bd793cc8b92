"""The rollout's spec meaning and plan: steps (none → the declared weight, then promote; a last step below
100 → an A/B hold), the task group after registration, rollback on any failed analysis, one pool per
serving target, the router's keyword arguments, and the seed still planning no rollout."""

from __future__ import annotations

import pytest

from airflow_aiinfra.contract import PROMOTE_NOW_PARAM, TaskKind
from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.spec.load import load_spec_text
from tests.conftest import FIXTURES

SPEC = """
name: recsys
training_pipeline:
  stages:
    - {{name: train, image: busybox, command: ["true"]}}
    - {{name: evaluate, image: busybox, command: ["true"], depends_on: [train]}}
experiment:
  registered_model: recsys
  model_stage: train
model_serving:
  versions:
    - {{version: "v1.0", weight: 80}}
    - {{version: "v1.1", weight: 20, canary: true, server: canary}}
  routing_rules:
    - {{condition: "user_type in ['premium', 'gold'] and region != 'eu'", target_version: "v1.1"}}
    - {{condition: default, target_version: "v1.0"}}
  monitoring:
    - thresholds: {{error_rate: 0.05, latency_p99: 500}}
{rollout}
"""


def plan(rollout: str = "") -> DagPlan:
    return build_plans(load_spec_text(SPEC.format(rollout=rollout), "recsys.yaml"))[0]


def rollout_ids(p: DagPlan) -> list[str]:
    return [t.task_id for t in p.tasks if t.group == "rollout"]


def test_without_steps_the_canary_goes_to_its_declared_weight_and_is_promoted() -> None:
    p = plan()
    assert rollout_ids(p) == ["rollout.deploy_canary", "rollout.analyze_20", "rollout.promote", "rollout.rollback"]
    deploy = p.task("rollout.deploy_canary")
    assert deploy.upstream == ("mlflow.register_model",) and deploy.payload.weight == 20
    # registration follows every stage downstream of the model stage
    assert p.task("mlflow.register_model").upstream == ("training.train", "training.evaluate")
    assert deploy.payload.router == {"conn_id": "aiinfra_router", "backend": "model_serving",
                                     "model_server_conn_id": "aiinfra_model_server", "stable_server": "v1.0",
                                     "canary_server": "canary"}
    assert p.task("rollout.promote").payload.hold_weight is None
    assert p.params[PROMOTE_NOW_PARAM]["default"] is False


def test_steps_chain_analyses_and_shifts_and_any_failed_analysis_rolls_back() -> None:
    p = plan("  rollout:\n    steps: [5, 50, 100]\n    step_interval: 30s\n    max_failed_checks: 2\n"
             "    comparison: {confidence: 0.99, metrics: [latency_p99]}")
    assert rollout_ids(p) == ["rollout.deploy_canary", "rollout.analyze_5", "rollout.shift_50", "rollout.analyze_50",
                              "rollout.shift_100", "rollout.analyze_100", "rollout.promote", "rollout.rollback"]
    assert p.task("rollout.shift_50").upstream == ("rollout.analyze_5",)
    assert p.task("rollout.promote").upstream == ("rollout.analyze_100",)
    rollback = p.task("rollout.rollback")
    assert rollback.trigger_rule == "one_failed"
    assert rollback.upstream == ("rollout.analyze_5", "rollout.analyze_50", "rollout.analyze_100")
    analyze = p.task("rollout.analyze_50")
    assert analyze.kind is TaskKind.ROLLOUT_ANALYZE
    assert (analyze.payload.step, analyze.payload.window_seconds, analyze.payload.max_failed_checks) == (2, 30.0, 2)
    assert (analyze.payload.comparison_confidence, analyze.payload.comparison_metrics) == (0.99, ["latency_p99"])
    assert analyze.payload.thresholds == {"error_rate": 0.05, "latency_p99": 500.0}
    # one pool per serving target, every rollout task in it; end_run waits for the rollout
    assert {t.pool for t in p.tasks if t.group == "rollout"} == {"aiinfra_rollout__haproxy_aiinfra_router.model_serving"}
    assert {"rollout.promote", "rollout.rollback"} <= set(p.task("mlflow.end_run").upstream)


def test_a_last_step_below_100_holds_an_ab_split() -> None:
    p = plan("  rollout:\n    steps: [10, 50]")
    assert p.task("rollout.promote").payload.hold_weight == 50


def test_the_seed_still_loads_verbatim_and_plans_no_rollout() -> None:
    p = build_plans(load_spec_text((FIXTURES / "seed_spec.yaml").read_text(), "seed.yaml"))
    assert not any(t.group == "rollout" for dag in p for t in dag.tasks)


@pytest.mark.parametrize("condition, router, message", [
    pytest.param("user_type == 'premium'", "{type: kserve, inference_service: recsys}",
                 "router kserve has no header routing", id="kserve-header"),
    pytest.param("user_type in ['a', 'b'] and region == 'eu'", "{type: kserve, inference_service: recsys}",
                 "router kserve has no header routing", id="kserve-any-rule"),
    pytest.param("tier == 3", "{type: istio, virtual_service: v, destination_rule: d, host: h.svc, "
                 "stable_url: 'http://s:1', canary_url: 'http://c:1'}",
                 "Istio compares a header only with string literals", id="istio-number"),
    pytest.param("user_type == 'a;b'", "{type: haproxy}", "characters outside [A-Za-z0-9_.-]", id="semicolon"),
    pytest.param("user_type == 'x } || { always_true'", "{type: haproxy}", "characters outside", id="acl-injection"),
    pytest.param("tier == 3", "{type: haproxy}", "router 'haproxy' cannot express it", id="haproxy-number"),
])
def test_routing_grammar_a_router_cannot_express_is_a_located_error(condition: str, router: str,
                                                                    message: str) -> None:
    text = SPEC.format(rollout=f"  rollout:\n    router: {router}").replace(
        "user_type in ['premium', 'gold'] and region != 'eu'", condition)
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "recsys.yaml")
    issues = [str(i) for i in info.value.issues]
    assert any("model_serving.routing_rules[0].condition" in i and message in i for i in issues), issues


@pytest.mark.parametrize("condition, router", [
    pytest.param("user_type == 'premium'", "{type: haproxy}", id="haproxy-eq"),
    pytest.param("user_type in ['a', 'b'] and region != 'eu' or not beta == 'on'", "{type: haproxy}",
                 id="haproxy-dnf"),
    pytest.param("user_type in ['a', 'b'] and region == 'eu' or tier == 'gold'",
                 "{type: istio, virtual_service: v, destination_rule: d, host: h.svc, stable_url: 'http://s:1', "
                 "canary_url: 'http://c:1'}", id="istio-matches"),
])
def test_valid_routing_forms_load(condition: str, router: str) -> None:
    text = SPEC.format(rollout=f"  rollout:\n    router: {router}").replace(
        "user_type in ['premium', 'gold'] and region != 'eu'", condition)
    load_spec_text(text, "recsys.yaml")
