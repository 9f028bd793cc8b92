"""Spec → DagPlans. Section planners add tasks to the pipeline graph in a fixed order;
DAG planners add whole DAGs of their own (e.g. feature materialization on its own schedule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_aiinfra.plan.context import PlanContext, PlanOptions
from airflow_aiinfra.plan.dags import dag_plan, pipeline_dag_id
from airflow_aiinfra.plan.distributed import plan_distributed
from airflow_aiinfra.plan.experiment import plan_experiment
from airflow_aiinfra.plan.features import plan_feature_tasks, plan_materialize_dag
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.plan.monitoring import (
    INFERENCE,
    MONITOR,
    pipeline_assets,
    plan_inference_dag,
    plan_monitor_dag,
)
from airflow_aiinfra.plan.quality import plan_quality
from airflow_aiinfra.plan.rollout import plan_rollout
from airflow_aiinfra.plan.training import plan_training

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.loaded import LoadedSpec

SectionPlanner = Callable[[PlanContext, PlanGraph], None]
DagPlanner = Callable[[PlanContext], "DagPlan | None"]

# Order matters: later planners place their tasks relative to the ones already planned.
# training first (stages), then what is placed around stages, then the MLflow run around everything,
# then the rollout after registration; last, distributed/Spark stages are rendered into their jobs from the
# pods the others have finished.
SECTION_PLANNERS: list[SectionPlanner] = [plan_training, plan_feature_tasks, plan_quality, plan_experiment,
                                          plan_rollout, plan_distributed]
DAG_PLANNERS: list[DagPlanner] = [plan_materialize_dag, plan_inference_dag, plan_monitor_dag]
PIPELINE_SECTIONS = ("training_pipeline", "data_quality", "experiment", "model_serving")
# DAGs of their own, by the top-level section that asks for them (plan_materialize_dag's suffix)
OWN_DAG_SECTIONS = {"feature_store": "materialize", "batch_inference": INFERENCE, "drift": MONITOR}


def dag_ids_of(name: str, sections: set[str]) -> list[str]:
    """The DAG ids a spec named ``name`` with these top-level sections may produce, known without validating
    it (for the placeholders of a broken spec). At least the pipeline id, so a broken spec always shows."""
    ids = [pipeline_dag_id(name)] if sections & set(PIPELINE_SECTIONS) or not sections & set(OWN_DAG_SECTIONS) else []
    ids += [f"{name}__{suffix}" for section, suffix in OWN_DAG_SECTIONS.items() if section in sections]
    return ids


def build_plans(loaded: LoadedSpec, options: PlanOptions | None = None) -> list[DagPlan]:
    """All DAGs of one spec. Pure: no Airflow, no I/O."""
    ctx = PlanContext(loaded, options or PlanOptions())
    spec = ctx.spec
    plans: list[DagPlan] = []
    if any(getattr(spec, s) is not None for s in PIPELINE_SECTIONS):
        graph = PlanGraph()
        for planner in SECTION_PLANNERS:
            planner(ctx, graph)
        plans.append(dag_plan(ctx, pipeline_dag_id(spec.name), graph, schedule=spec.schedule,
                              assets=pipeline_assets(ctx)))
    for planner in DAG_PLANNERS:
        extra = planner(ctx)
        if extra is not None:
            plans.append(extra)
    return plans
