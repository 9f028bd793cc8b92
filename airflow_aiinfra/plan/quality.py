"""data_quality → one gate task per gate in the ``data_quality`` group, placed before/after stages."""

from __future__ import annotations

from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph


def plan_quality(ctx: PlanContext, graph: PlanGraph) -> None:
    return None
