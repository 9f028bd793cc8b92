"""DagPlan → airflow.sdk.DAG."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup

from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.wiring.builders import build_operator
from airflow_aiinfra.wiring.notify import callbacks


def _schedule(plan: DagPlan) -> Any:
    s = plan.schedule
    if s.kind == "cron":
        # Real data intervals: Airflow 3 gives cron schedules zero-length intervals by default.
        return CronDataIntervalTimetable(s.cron, timezone=plan.timezone)
    return {"none": None, "once": "@once", "continuous": "@continuous"}[s.kind]


def _params(plan: DagPlan) -> dict[str, Param]:
    out = {}
    for name, p in plan.params.items():
        p = dict(p)
        default = p.pop("default", None)
        if "type" in p and default is None:
            p["type"] = [p["type"], "null"]
        out[name] = Param(default, **p)
    return out


def build_dag(plan: DagPlan) -> DAG:
    dag = DAG(
        dag_id=plan.dag_id,
        description=plan.description,
        schedule=_schedule(plan),
        start_date=pendulum.parse(plan.start_date, tz=plan.timezone),
        catchup=plan.catchup,
        max_active_runs=plan.max_active_runs,
        tags=list(dict.fromkeys(plan.tags)),
        doc_md=plan.doc_md,
        params=_params(plan),
        default_args={"owner": plan.owner, **callbacks(plan.notify)},
        render_template_as_native_obj=False,
    )
    groups: dict[str, TaskGroup] = {}
    ops: dict[str, Any] = {}
    for task in plan.tasks:
        common: dict[str, Any] = {"dag": dag}
        if task.group:
            if task.group not in groups:
                groups[task.group] = TaskGroup(task.group, dag=dag)
            common["task_group"] = groups[task.group]
        ops[task.task_id] = build_operator(task, common)
    for task in plan.tasks:
        for up in task.upstream:
            ops[up] >> ops[task.task_id]
    for task in plan.tasks:
        if task.teardown:
            ops[task.task_id].is_teardown = True
    return dag
