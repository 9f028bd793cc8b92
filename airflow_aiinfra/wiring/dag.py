"""DagPlan → airflow.sdk.DAG."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, TaskGroup

from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.wiring.builders import asset, build_operator
from airflow_aiinfra.wiring.notify import callbacks


def _schedule(plan: DagPlan) -> Any:
    s = plan.schedule
    assets = [asset(uri) for uri in s.assets]
    if s.kind == "cron":
        # Real data intervals: Airflow 3 gives cron schedules zero-length intervals by default.
        timetable = CronDataIntervalTimetable(s.cron, timezone=plan.timezone)
        return AssetOrTimeSchedule(timetable=timetable, assets=assets) if assets else timetable
    if s.kind == "none" and assets:
        return assets
    return {"none": None, "once": "@once", "continuous": "@continuous"}[s.kind]


class EventWindowDAG(DAG):
    """A DAG also scheduled on an Asset. Airflow 3 gives an asset-triggered run no logical date and no data
    interval, while templates (``{{ ds_nodash }}``) and operators (Feast, MLflow) use them: the triggering
    event's extra carries the window (``data_interval_start/end``), and before a task's templates are rendered
    the run's context gets that window (``monitoring/window.py``). ``get_template_env`` is the hook: the task
    runner asks for the environment right before rendering, with the task's context current; timed runs
    are left alone."""

    def get_template_env(self, *, force_sandboxed: bool = False) -> Any:
        from airflow.sdk import get_current_context

        from airflow_aiinfra.monitoring.window import fill_event_window

        try:
            fill_event_window(get_current_context())
        except RuntimeError:  # no task is running (parsing, rendering in the UI)
            pass
        return super().get_template_env(force_sandboxed=force_sandboxed)


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
    dag = (EventWindowDAG if plan.schedule.assets else DAG)(
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
