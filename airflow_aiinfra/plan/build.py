"""Spec → DagPlans. Section planners add tasks to the pipeline graph in a fixed order;
DAG planners add whole DAGs of their own (e.g. feature materialization on its own schedule)."""

from __future__ import annotations

from collections.abc import Callable

from airflow_aiinfra.plan.context import PlanContext, PlanOptions
from airflow_aiinfra.plan.experiment import plan_experiment
from airflow_aiinfra.plan.features import plan_feature_tasks, plan_materialize_dag
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan, Schedule
from airflow_aiinfra.plan.quality import plan_quality
from airflow_aiinfra.plan.training import plan_training
from airflow_aiinfra.spec.checks import CRON_PRESETS
from airflow_aiinfra.spec.load import LoadedSpec

PIPELINE = "pipeline"

SectionPlanner = Callable[[PlanContext, PlanGraph], None]
DagPlanner = Callable[[PlanContext], "DagPlan | None"]

# Order matters: later planners place their tasks relative to the ones already planned.
# training first (stages), then what is placed around stages, then the MLflow run around everything.
SECTION_PLANNERS: list[SectionPlanner] = [plan_training, plan_feature_tasks, plan_quality, plan_experiment]
DAG_PLANNERS: list[DagPlanner] = [plan_materialize_dag]


def pipeline_dag_id(spec_name: str) -> str:
    return f"{spec_name}__{PIPELINE}"


def schedule_of(value: str | None) -> Schedule:
    if value is None:
        return Schedule("none")
    if value == "@once":
        return Schedule("once")
    if value == "@continuous":
        return Schedule("continuous")
    return Schedule("cron", CRON_PRESETS.get(value, value))


def dag_plan(
    ctx: PlanContext,
    dag_id: str,
    graph: PlanGraph,
    *,
    schedule: str | None,
    start_date: str | None = None,
    catchup: bool | None = None,
    extra_tags: tuple[str, ...] = (),
) -> DagPlan:
    spec = ctx.spec
    return DagPlan(
        dag_id=dag_id,
        spec_name=spec.name,
        spec_file=ctx.loaded.file,
        spec_sha256=ctx.loaded.sha256,
        description=spec.description or f"aiinfra spec {spec.name}",
        schedule=schedule_of(schedule),
        start_date=start_date or spec.start_date,
        timezone=spec.timezone,
        catchup=spec.catchup if catchup is None else catchup,
        max_active_runs=spec.max_active_runs,
        owner=spec.owner,
        tags=("aiinfra", *spec.tags, *extra_tags),
        params={k: v.model_dump(exclude_none=True) for k, v in spec.params.items()},
        doc_md=f"**Spec** `{ctx.loaded.file}`\n\n```yaml\n{ctx.loaded.text}\n```\n",
        tasks=graph.freeze(),
        notify=spec.notify.model_dump() if spec.notify else None,
    )


def build_plans(loaded: LoadedSpec, options: PlanOptions | None = None) -> list[DagPlan]:
    """All DAGs of one spec. Pure: no Airflow, no I/O."""
    ctx = PlanContext(loaded, options or PlanOptions())
    spec = ctx.spec
    plans: list[DagPlan] = []
    if any(getattr(spec, s) is not None for s in ("training_pipeline", "data_quality", "experiment", "model_serving")):
        graph = PlanGraph()
        for planner in SECTION_PLANNERS:
            planner(ctx, graph)
        plans.append(dag_plan(ctx, pipeline_dag_id(spec.name), graph, schedule=spec.schedule))
    for planner in DAG_PLANNERS:
        extra = planner(ctx)
        if extra is not None:
            plans.append(extra)
    return plans


def dag_ids_of(loaded: LoadedSpec) -> list[str]:
    """DAG ids a spec produces, cheaply (used to build only the DAG a worker asks for)."""
    return [p.dag_id for p in build_plans(loaded)]
