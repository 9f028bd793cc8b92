"""A DagPlan from a graph of tasks, with the spec's DAG-level settings: one place for every planner."""

from __future__ import annotations

from typing import Any

from airflow_aiinfra.contract import PROMOTE_NOW_PARAM, ROLLOUT_PROMOTE
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan, Schedule
from airflow_aiinfra.spec.schedules import CRON_PRESETS

PIPELINE = "pipeline"


def pipeline_dag_id(spec_name: str) -> str:
    return f"{spec_name}__{PIPELINE}"


def schedule_of(value: str | None, assets: tuple[str, ...] = ()) -> Schedule:
    if value is None:
        return Schedule("none", assets=assets)
    if value == "@once":
        return Schedule("once")
    if value == "@continuous":
        return Schedule("continuous")
    return Schedule("cron", CRON_PRESETS.get(value, value), assets=assets)


def _rollout_params(graph: PlanGraph) -> dict[str, dict[str, Any]]:
    """The manual control of a rollout: trigger with it set to promote now (analyses and shifts let be)."""
    if ROLLOUT_PROMOTE not in graph.tasks:
        return {}
    return {PROMOTE_NOW_PARAM: {"default": False, "type": "boolean",
                                "description": "Promote the canary now: no more analysis or weight steps."}}


def dag_plan(
    ctx: PlanContext,
    dag_id: str,
    graph: PlanGraph,
    *,
    schedule: str | None,
    start_date: str | None = None,
    catchup: bool | None = None,
    extra_tags: tuple[str, ...] = (),
    assets: tuple[str, ...] = (),
) -> DagPlan:
    spec = ctx.spec
    return DagPlan(
        dag_id=dag_id,
        spec_name=spec.name,
        spec_file=ctx.loaded.file,
        spec_sha256=ctx.loaded.sha256,
        description=spec.description or f"aiinfra spec {spec.name}",
        schedule=schedule_of(schedule, assets),
        start_date=start_date or spec.start_date,
        timezone=spec.timezone,
        catchup=spec.catchup if catchup is None else catchup,
        max_active_runs=spec.max_active_runs,
        owner=spec.owner,
        tags=("aiinfra", *spec.tags, *extra_tags),
        params={**{k: v.model_dump(exclude_none=True) for k, v in spec.params.items()}, **_rollout_params(graph)},
        doc_md=f"**Spec** `{ctx.loaded.file}`\n\n```yaml\n{ctx.loaded.text}\n```\n",
        tasks=graph.freeze(),
        notify=spec.notify.model_dump() if spec.notify else None,
    )
