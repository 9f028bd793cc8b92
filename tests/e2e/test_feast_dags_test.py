"""`airflow dags test` of the Feast DAGs: the materialization DAG writes exactly its data interval, and
the pipeline hands the training stage a point-in-time dataset through its env."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from tests.conftest import AirflowHome, run_succeeded
from tests.feast_support import USERS, inline_spec, write_clicks

pytestmark = [pytest.mark.slow, pytest.mark.integration]

FAST_RETRIES = "defaults: {retries: 0, retry_delay: 1s}\n"


def _xcom(home: AirflowHome, dag_id: str, task_id: str):
    con = sqlite3.connect(home.home / "airflow.db")
    row = con.execute("SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'",
                      (dag_id, task_id)).fetchone()
    con.close()
    return json.loads(row[0]) if row else None


def test_materialize_dag_writes_exactly_the_runs_interval(airflow_home: AirflowHome) -> None:
    write_clicks(airflow_home.root / "data" / "clicks.parquet")
    airflow_home.extra_env["AIRFLOW__AIINFRA__FEAST_HOME"] = str(airflow_home.root / "feast")
    airflow_home.add_spec("clicks.yaml", inline_spec(source=str(airflow_home.root / "data" / "clicks.parquet"))
                          .replace("start_date: '2024-06-01'\n", "start_date: '2024-06-01'\n" + FAST_RETRIES))
    proc = airflow_home.dags_test("clicks__materialize", "2024-06-01T10:00:00+00:00")
    assert run_succeeded(proc), proc.stdout[-4000:] + proc.stderr[-3000:]
    assert airflow_home.task_states("clicks__materialize", proc.stdout) == {
        "features.apply": "success", "features.materialize": "success", "features.consistency": "success"}

    report = _xcom(airflow_home, "clicks__materialize", "features.materialize")
    start, end = datetime.fromisoformat(report["start"]), datetime.fromisoformat(report["end"])
    # a manual run at 10:00 of an hourly CronDataIntervalTimetable covers the hour that just ended
    assert (start, end) == (datetime(2024, 6, 1, 9, tzinfo=UTC), datetime(2024, 6, 1, 10, tzinfo=UTC))
    # every online row has an event time inside [start, end), one per user with a row in the window
    con = sqlite3.connect(airflow_home.root / "feast" / "clicks" / "online_store.db")
    stamps = con.execute("SELECT DISTINCT event_ts FROM clicks_user_clicks").fetchall()
    users = con.execute("SELECT COUNT(DISTINCT entity_key) FROM clicks_user_clicks").fetchone()[0]
    con.close()
    assert [datetime.fromtimestamp(s, UTC) for (s,) in stamps] == [start]  # hourly data: the window's only hour
    assert users == report["rows"]["user_clicks"] == sum(1 for u in range(1, USERS + 1) if (u + 9) % 5)
    check = _xcom(airflow_home, "clicks__materialize", "features.consistency")
    assert check["status"] == "ok" and check["features"][0]["checked"] == users
    assert "| user_clicks:user_click_count |" in proc.stdout + proc.stderr  # the report table in the log


PIPELINE = """\
training_pipeline:
  stages:
    - name: train
      image: trainer
      command: ["python", "-c", "import os, pandas as pd; df = pd.read_parquet(os.environ['TRAINING_SET_PATH']); print('training rows', len(df), int(df.user_click_count.sum()))"]
"""
TRAINING = """\
  training_set:
    entity_window: 2h
    output_path: out/{{ ds_nodash }}/train.parquet
"""


def test_pipeline_training_stage_reads_the_point_in_time_dataset(airflow_home: AirflowHome) -> None:
    write_clicks(airflow_home.root / "data" / "clicks.parquet")
    airflow_home.extra_env["AIRFLOW__AIINFRA__FEAST_HOME"] = str(airflow_home.root / "feast")
    spec = inline_spec(source=str(airflow_home.root / "data" / "clicks.parquet"), extra=TRAINING)
    spec = spec.replace("start_date: '2024-06-01'\n", "start_date: '2024-06-01'\nschedule: '@daily'\n" + FAST_RETRIES)
    airflow_home.add_spec("clicks.yaml", spec + PIPELINE)
    proc = airflow_home.dags_test("clicks__pipeline", "2024-06-02")
    assert run_succeeded(proc), proc.stdout[-4000:] + proc.stderr[-3000:]
    result = _xcom(airflow_home, "clicks__pipeline", "features.training_set")
    assert result["path"] == str(airflow_home.root / "out" / "20240602" / "train.parquet")
    # @daily run of 2024-06-02: interval [06-02, 06-03); window = its last 2 hours, all 20 users seen there
    assert result["rows"] == USERS
    assert f"training rows {USERS}" in proc.stdout + proc.stderr
