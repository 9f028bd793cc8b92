"""model_serving + experiment.registered_model → the ``rollout`` task group after registration.

``rollout.deploy_canary`` → ``rollout.analyze_<w1>`` → ``rollout.shift_<w2>`` → ``rollout.analyze_<w2>`` → … →
``rollout.promote``; ``rollout.rollback`` (trigger rule ``one_failed``) after every analysis, so a failed
(or manually failed) analysis sends all traffic back to stable and the DAG run ends failed while the
rollback itself succeeds. Weights are ``rollout.steps``, or the canary slot's declared weight when there are
none. A last step below 100 holds the split as an A/B test: ``rollout.promote`` then records the judgment
and promotes only when the run was triggered with ``rollout_promote_now``.

Every rollout task draws from one pool per serving target (one slot: ``aiinfra pools`` creates it, deferred
analyses included), so two rollouts of one target never steer it at the same time; ``deploy_canary`` also
refuses to start while the canary slot serves another version with traffic (retried until it is free).
"""

from __future__ import annotations

import re
from typing import Any

from airflow_aiinfra.contract import (
    MLFLOW_END_RUN,
    MLFLOW_REGISTER_MODEL,
    ROLLOUT_DEPLOY,
    ROLLOUT_PROMOTE,
    ROLLOUT_ROLLBACK,
    CustomCheckDef,
    Payload,
    RolloutAnalyzePayload,
    RolloutDeployPayload,
    RolloutPromotePayload,
    RolloutRollbackPayload,
    RolloutShiftPayload,
    TaskKind,
    analyze_task_id,
    shift_task_id,
)
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import TaskPlan

POOL_PREFIX = "aiinfra_rollout__"


def _slot_server(version: Any) -> str:
    return version.server or version.version


def router_settings(ctx: PlanContext) -> tuple[str, dict[str, str | int | list[str]], str]:
    """(router type, the router's keyword arguments, target name) for the spec's model_serving: the router
    block's values as JSON types (``ready_timeout_seconds`` stays a number), plus what the router needs from
    ``versions[]`` and ``routing_rules``."""
    ms = ctx.spec.model_serving
    assert ms is not None
    router = ms.rollout.router
    settings: dict[str, str | int | list[str]] = router.model_dump(mode="json", exclude={"type"}, exclude_none=True)
    if router.type == "istio":
        canary_slot = next((v.version for v in ms.versions if v.canary), None)
        settings["header_conditions"] = [r.condition for r in ms.routing_rules
                                         if r.target_version == canary_slot and r.condition.strip() != "default"]
    if router.type == "haproxy":
        stable = next(v for v in ms.versions if not v.canary)
        canary = next(v for v in ms.versions if v.canary)
        settings |= {"stable_server": _slot_server(stable), "canary_server": _slot_server(canary)}
        target = f"{router.conn_id}.{router.backend}"
    elif router.type == "kserve":
        target = f"{router.namespace}.{router.inference_service}"
    else:
        target = f"{router.namespace}.{router.virtual_service}"
    return router.type, settings, f"{router.type}:{target}"


def pool_name(target: str) -> str:
    """One Airflow pool per serving target (pool names: letters, digits, '_', '.', '-')."""
    return POOL_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", target)


def steps(ctx: PlanContext) -> tuple[list[int], int | None]:
    """(canary weights in order, the held A/B weight or None when the rollout ends in a promotion)."""
    ms = ctx.spec.model_serving
    assert ms is not None
    if ms.rollout.steps is None:
        return [next(v.weight for v in ms.versions if v.canary) or 100], None
    weights = list(ms.rollout.steps)
    return weights, (weights[-1] if weights[-1] < 100 else None)


def wants_rollout(ctx: PlanContext) -> bool:
    spec = ctx.spec
    ms, ex = spec.model_serving, spec.experiment
    return (ms is not None and ex is not None and bool(ex.registered_model)
            and sum(v.canary for v in ms.versions) == 1 and len(ms.versions) == 2)


def plan_rollout(ctx: PlanContext, graph: PlanGraph) -> None:
    if not wants_rollout(ctx) or MLFLOW_REGISTER_MODEL not in graph.tasks:
        return
    spec = ctx.spec
    ms, ex = spec.model_serving, spec.experiment
    assert ms is not None and ex is not None and ex.registered_model
    router_type, router, target = router_settings(ctx)
    weights, hold = steps(ctx)
    ro = ms.rollout
    thresholds = {k: float(v) for k, v in ms.monitoring.thresholds.model_dump(exclude_none=True).items()}
    common: dict[str, Any] = {"registered_model": ex.registered_model, "router_type": router_type,
                              "router": router, "target": target}
    pool = pool_name(target)

    def add(task_id: str, kind: TaskKind, payload: Payload, doc: str, upstream: tuple[str, ...],
            **kw: Any) -> TaskPlan:
        return graph.add(ctx.task(task_id, kind, payload, upstream=upstream, pool=pool, pool_slots=1,
                                  execution_timeout=None, doc=doc, **kw))

    add(ROLLOUT_DEPLOY, TaskKind.ROLLOUT_DEPLOY, RolloutDeployPayload(**common, weight=weights[0]),
        f"Reads the router, then loads this run's version of {ex.registered_model!r} into the canary slot "
        f"(drained while it loads) and gives it {weights[0]} %; with no champion yet it is an initial deploy "
        f"(stable slot at 100 %, alias champion, no analysis).",
        (MLFLOW_REGISTER_MODEL,))
    previous = ROLLOUT_DEPLOY
    analyses = []
    for i, weight in enumerate(weights, start=1):
        if i > 1:
            shift = shift_task_id(weight)
            add(shift, TaskKind.ROLLOUT_SHIFT, RolloutShiftPayload(**common, weight=weight),
                f"Reads the router's weight, then moves the canary to {weight} % (nothing if it is there).",
                (previous,))
            previous = shift
        analyze = analyze_task_id(weight)
        add(analyze, TaskKind.ROLLOUT_ANALYZE, RolloutAnalyzePayload(
            **common, weight=weight, step=i, window_seconds=ro.step_interval.total_seconds(),
            scrape_interval_seconds=ro.scrape_interval.total_seconds(), prometheus_conn_id=ro.prometheus_conn_id,
            thresholds=thresholds,
            comparison_confidence=ro.comparison.confidence if ro.comparison else None,
            comparison_metrics=list(ro.comparison.metrics) if ro.comparison else [],
            checks=[CustomCheckDef(name=c.name, query=c.query, max=c.max, min=c.min) for c in ro.checks],
            min_requests=ro.min_requests, max_failed_checks=ro.max_failed_checks,
        ), f"Waits {ro.step_interval} in the triggerer, then judges the canary at {weight} % on Prometheus "
           f"(thresholds{', comparison with stable' if ro.comparison else ''}); fails on a failed check, "
           f"retries when there is not enough data.", (previous,))
        analyses.append(analyze)
        previous = analyze
    add(ROLLOUT_PROMOTE, TaskKind.ROLLOUT_PROMOTE,
        RolloutPromotePayload(**common, hold_weight=hold, thresholds=thresholds),
        (f"Holds the A/B split at {hold} % with the judgment on record (promotes only with the "
         "rollout_promote_now param)") if hold is not None else
        "Moves alias champion to the new version and previous to the old one, reloads the stable slot with "
        "the new champion and returns all traffic to it; leaves the chart on the MLflow run.", (previous,))
    add(ROLLOUT_ROLLBACK, TaskKind.ROLLOUT_ROLLBACK, RolloutRollbackPayload(**common, thresholds=thresholds),
        "Runs when an analysis fails: all traffic (header-matched included) back to stable, champion untouched, "
        "the version tagged rollout.status=rolled_back with the failing metric, value, threshold and step.",
        tuple(analyses), trigger_rule="one_failed")
    if MLFLOW_END_RUN in graph.tasks:
        for task_id in (ROLLOUT_PROMOTE, ROLLOUT_ROLLBACK):
            graph.add_edge(task_id, MLFLOW_END_RUN)
