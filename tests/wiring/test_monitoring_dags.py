"""The monitoring DAGs as Airflow builds them: the pipeline on cron or the retrain asset, Asset outlets and
inlets, the report link, serialization, and the event window filled in before templates render."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dags():
    from airflow_aiinfra.wiring.dag import build_dag

    return {p.dag_id: build_dag(p) for p in build_plans(load_spec(ROOT / "examples" / "monitoring" / "recsys.yaml"))}


def test_pipeline_is_scheduled_on_cron_or_the_retrain_asset(dags) -> None:
    from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

    from airflow_aiinfra.wiring.dag import EventWindowDAG

    pipeline = dags["recsys_loop__pipeline"]
    assert isinstance(pipeline, EventWindowDAG)
    tt = pipeline.timetable
    assert isinstance(tt, AssetOrTimeSchedule) and isinstance(tt.timetable, CronDataIntervalTimetable)
    assert [a.uri for a in tt.asset_condition.objects] == ["aiinfra://recsys_loop/retrain"]
    assert type(dags["recsys_loop__monitor"]).__name__ == "DAG"  # timed only: no window filling


def test_assets_links_and_serialization(dags) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_aiinfra.operators.monitoring import MonitoringReportLink

    score = dags["recsys_loop__inference"].get_task("inference.score")
    assert [(a.name, a.uri) for a in score.outlets] == [("recsys_loop.predictions", "aiinfra://recsys_loop/predictions")]
    retrain = dags["recsys_loop__monitor"].get_task("monitor.retrain")
    assert [a.uri for a in retrain.outlets] == [a.uri for a in retrain.inlets] == ["aiinfra://recsys_loop/retrain"]
    drift = dags["recsys_loop__monitor"].get_task("monitor.drift")
    assert any(isinstance(link, MonitoringReportLink) for link in drift.operator_extra_links)
    for dag in dags.values():
        DagSerialization.from_dict(DagSerialization.to_dict(dag))


def test_the_report_link_reads_the_tasks_result() -> None:
    from airflow_aiinfra.operators.monitoring import MonitoringReportLink

    ti = SimpleNamespace(xcom_pull=lambda task_ids: {"report_url": f"http://mlflow/#/{task_ids}"})
    op = SimpleNamespace(task_id="monitor.drift")
    assert MonitoringReportLink().get_link(op, ti_key=ti) == "http://mlflow/#/monitor.drift"


def test_templates_of_an_asset_triggered_run_render_with_the_event_window(dags) -> None:
    from airflow.sdk.execution_time.context import set_current_context

    pipeline = dags["recsys_loop__pipeline"]
    event = SimpleNamespace(extra={"data_interval_start": "2024-06-02T00:00:00+00:00",
                                   "data_interval_end": "2024-06-03T00:00:00+00:00"},
                            timestamp=datetime(2024, 6, 3, 1, tzinfo=UTC))
    context = {"logical_date": None, "triggering_asset_events": {"aiinfra://recsys_loop/retrain": [event]}}
    with set_current_context(context):  # what the task runner does around rendering
        env = pipeline.get_template_env()
    assert env.from_string("{{ ds_nodash }} {{ data_interval_end }}").render(**context) == (
        "20240602 2024-06-03 00:00:00+00:00")
