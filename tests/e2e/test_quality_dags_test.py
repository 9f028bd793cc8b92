"""`airflow dags test` of specs with data-quality gates: real stages (local runner), real data,
real GX. A failing gate stops the stages behind it without retrying; a `warn` gate lets the DAG
succeed; the result is in XCom and the Data Docs link points at the page built for the run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, AirflowHome, fresh_database, run_succeeded

SPEC = """
name: dqrun
defaults:
  retries: 1
  retry_delay: 1s
  retry_exponential_backoff: false
training_pipeline:
  stages:
    - name: prepare
      image: busybox
      command: ["python", "-c", "import os; os.makedirs('data/{{ ds }}', exist_ok=True); open('data/{{ ds }}/events.csv', 'w').write('user_id,age\\\\n1,30\\\\n2,AGE\\\\n')"]
    - name: train
      image: busybox
      depends_on: [prepare]
      command: ["python", "-c", "print('training')"]
data_quality:
  gates:
    - name: events
      data: {path: "data/{{ ds }}/events.csv"}
      after: [prepare]
      on_failure: MODE
      expectations:
        - expect_column_values_to_be_between: {column: age, min_value: 0, max_value: 120}
        - expect_column_values_to_not_be_null: {column: user_id}
"""

PG_GATE = """
    - name: users
      data: {query: "SELECT id FROM users WHERE day = :day", conn_id: dq_pg, params: {day: "{{ ds }}"}}
      expectations:
        - expect_column_values_to_be_unique: {column: id}
        - expect_table_row_count_to_equal: {value: 3}
"""


def xcoms(home: AirflowHome, dag_id: str) -> dict[tuple[str, str], Any]:
    con = sqlite3.connect(home.home / "airflow.db")
    rows = con.execute("SELECT task_id, key, value FROM xcom WHERE dag_id = ?", (dag_id,)).fetchall()
    con.close()
    return {(t, k): json.loads(v) if isinstance(v, str | bytes) else v for t, k, v in rows}


def tries(home: AirflowHome, dag_id: str, task_id: str) -> int:
    con = sqlite3.connect(home.home / "airflow.db")
    (n,) = con.execute("SELECT try_number FROM task_instance WHERE dag_id = ? AND task_id = ?",
                       (dag_id, task_id)).fetchone()
    con.close()
    return n


def setup_home(home: AirflowHome, mode: str, age: int, extra: str = "") -> Path:
    docs = home.root / "data_docs"
    home.extra_env["AIRFLOW__AIINFRA__DATA_DOCS_FOLDER"] = str(docs)
    home.add_spec("dqrun.yaml", SPEC.replace("MODE", mode).replace("AGE", str(age)) + extra)
    return docs


@pytest.mark.slow
def test_failing_gate_fails_once_and_stops_the_stages_behind_it(airflow_home: AirflowHome) -> None:
    docs = setup_home(airflow_home, "fail", 500)
    proc = airflow_home.dags_test("dqrun__pipeline", "2024-06-01")
    out = proc.stdout + proc.stderr
    assert not run_succeeded(proc), out[-3000:]
    states = airflow_home.task_states("dqrun__pipeline", proc.stdout)
    assert states == {"training.prepare": "success", "data_quality.events": "failed",
                      "training.train": "upstream_failed"}, out[-3000:]
    assert tries(airflow_home, "dqrun__pipeline", "data_quality.events") == 1  # retries: 1, yet not retried
    assert "DataQualityFailed" in out and "FAIL  expect_column_values_to_be_between(age)" in out
    values = xcoms(airflow_home, "dqrun__pipeline")
    result = values[("data_quality.events", "return_value")]
    assert result["status"] == "failed" and result["rows"] == 2
    assert result["source"] == str(airflow_home.root / "data" / "2024-06-01" / "events.csv")  # templated, bundle-relative
    assert result["failed"][0]["unexpected_sample"] == [500]
    link = values[("data_quality.events", "_link_DataDocsLink")]
    assert link == result["data_docs"] and link.startswith("/aiinfra/data-docs/dqrun__pipeline/")
    assert (docs / link.removeprefix("/aiinfra/data-docs/")).is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_warn_gate_lets_the_dag_succeed_and_a_postgres_gate_passes(
    airflow_home: AirflowHome, postgres_url: str
) -> None:
    import sqlalchemy

    url = fresh_database("aiinfra_dq_dags_test")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as db:
        db.execute(sqlalchemy.text("CREATE TABLE users (id int, day text)"))
        db.execute(sqlalchemy.text("INSERT INTO users VALUES (1, '2024-06-01'), (2, '2024-06-01'), "
                                   "(3, '2024-06-01'), (3, '2024-06-02')"))
    engine.dispose()
    airflow_home.extra_env["AIRFLOW_CONN_DQ_PG"] = url.replace("+psycopg2", "")
    setup_home(airflow_home, "warn", 500, PG_GATE + "experiment: {name: dqrun}\n")  # embedded MLflow store
    proc = airflow_home.dags_test("dqrun__pipeline", "2024-06-01")
    out = proc.stdout + proc.stderr
    assert run_succeeded(proc), out[-3000:]
    states = airflow_home.task_states("dqrun__pipeline", proc.stdout)
    assert {s for t, s in states.items() if not t.startswith("mlflow.")} == {"success"}, states
    assert {"data_quality.events", "data_quality.users", "training.train"} <= set(states)
    values = xcoms(airflow_home, "dqrun__pipeline")
    assert values[("data_quality.events", "return_value")]["status"] == "warn"
    assert values[("data_quality.users", "return_value")]["status"] == "passed"
    assert values[("data_quality.users", "return_value")]["rows"] == 3
    assert "DATA QUALITY WARNING" in out
    # the warning is visible on the pipeline's MLflow run: a tag and the result as an artifact
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{airflow_home.home / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("dqrun").experiment_id])
    assert run.data.tags["data_quality.events"] == "warn"
    assert run.data.tags["data_quality.users"] == "passed"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "data_quality")}
    assert artifacts == {"data_quality/events.json", "data_quality/users.json"}


def test_gate_dag_parses_without_reading_data_or_importing_gx() -> None:
    """Building the DAG makes the operator only: no data read, no GX/pandas/MLflow/Feast import."""
    code = textwrap.dedent(f"""
        import sys
        from airflow_aiinfra.plan.build import build_plans
        from airflow_aiinfra.plan.context import PlanOptions
        from airflow_aiinfra.spec.load import load_spec_text
        from airflow_aiinfra.wiring.dag import build_dag

        text = {SPEC.replace("MODE", "fail").replace("AGE", "1")!r}
        dag = build_dag(build_plans(load_spec_text(text, "dqrun.yaml"), PlanOptions(bundle_root="/bundle"))[0])
        gate = dag.get_task("data_quality.events")
        print(type(gate).__name__, gate.task_group.group_id, sorted(link.name for link in gate.operator_extra_links), gate.base_dir,
              sorted(t.task_id for t in gate.downstream_list))
        print(sorted(m for m in ("great_expectations", "pandas", "mlflow", "feast") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    built, heavy = out.stdout.strip().splitlines()[-2:]
    assert built == "DataQualityOperator data_quality ['Data Docs'] /bundle ['training.train']"
    assert heavy == "[]"
