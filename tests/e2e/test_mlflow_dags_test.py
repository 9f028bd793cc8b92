"""`airflow dags test` of a spec with an experiment, against a real `mlflow server` over HTTP (backend on the
shared Postgres): one MLflow run per DAG run, a real stage logging a real model, registration with the
alias, retries resuming the same run, the server stopped mid-run, and no secret in pods or logs."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import VENV_BIN, AirflowHome, run_succeeded
from tests.mlflow_server import MlflowServer

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SECRET = "s3cr3t-mlflow-pa55"

# A real training stage: plain mlflow calls, configured only by the env the pipeline gives it.
TRAIN = """
import os, sys
from pathlib import Path
import mlflow, mlflow.sklearn
from sklearn.linear_model import LogisticRegression

X = [[float(i)] for i in range(40)]
y = [int(i >= 20) for i in range(40)]
model = LogisticRegression().fit(X, y)
accuracy = float(model.score(X, y))
with mlflow.start_run():  # resumes MLFLOW_RUN_ID
    mlflow.log_metric("accuracy", accuracy)
    mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
print(f"accuracy={accuracy} experiment={os.environ['MLFLOW_EXPERIMENT_NAME']}")
marker = Path(os.environ["FIRST_TRY_MARKER"])
if os.environ.get("FAIL_FIRST_TRY") == "1" and not marker.exists():
    marker.write_text("failed once")
    sys.exit("first try fails after logging its model")
"""

HOLD = """
import os, time
from pathlib import Path
Path(os.environ["READY"]).write_text("ready")
while not Path(os.environ["GO"]).exists():
    time.sleep(0.2)
raise SystemExit("released: this stage fails, so the MLflow run must end FAILED")
"""


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _states_and_tries(home: AirflowHome, dag_id: str) -> dict[str, tuple[str, int]]:
    con = sqlite3.connect(home.home / "airflow.db")
    rows = con.execute("SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ?", (dag_id,)).fetchall()
    con.close()
    return {t: (s, n) for t, s, n in rows}


def _xcom(home: AirflowHome, task_id: str, key: str) -> str | None:
    con = sqlite3.connect(home.home / "airflow.db")
    row = con.execute("SELECT value FROM xcom WHERE task_id = ? AND key = ?", (task_id, key)).fetchone()
    con.close()
    return row[0] if row else None


def test_pipeline_is_one_mlflow_run_with_a_registered_challenger(
    airflow_home: AirflowHome, mlflow_server: MlflowServer
) -> None:
    model_name = f"mlrun-{uuid.uuid4().hex[:8]}"
    train = _write(airflow_home.root / "train.py", TRAIN)
    spec = f"""
name: mlrun
defaults: {{retries: 1, retry_delay: 1s, retry_exponential_backoff: false}}
training_pipeline:
  stages:
    - name: train
      image: trainer:1
      command: [python, {train}]
      resources: {{cpu: "1", memory: 1Gi}}
      env: {{FAIL_FIRST_TRY: "1", FIRST_TRY_MARKER: {airflow_home.root / "marker"}}}
    - name: report
      image: busybox
      depends_on: [train]
      command: [python, -c, "print('report')"]
experiment:
  name: mlrun-{model_name}
  conn_id: mlflow_test
  credentials_secret: mlflow-credentials
  registered_model: {model_name}
  model_stage: train
  metric_gates: [{{metric: accuracy, op: ">", threshold: 0.9}}]
  tags: {{team: test}}
"""
    spec_path = airflow_home.add_spec("mlrun.yaml", spec)
    airflow_home.extra_env["AIRFLOW_CONN_MLFLOW_TEST"] = (
        f'{{"conn_type": "mlflow", "host": "{mlflow_server.url}", "login": "bot", "password": "{SECRET}"}}')
    proc = airflow_home.dags_test("mlrun__pipeline", "2024-06-01")
    out = proc.stdout + proc.stderr
    assert run_succeeded(proc), out[-4000:]

    states = _states_and_tries(airflow_home, "mlrun__pipeline")
    assert {t: s for t, (s, _) in states.items()} == {
        "mlflow.start_run": "success", "training.train": "success", "mlflow.register_model": "success",
        "training.report": "success", "mlflow.end_run": "success"}
    assert states["training.train"][1] == 2  # the first try failed after logging a model

    client = mlflow_server.client()
    experiment = client.get_experiment_by_name(f"mlrun-{model_name}")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # one run, even though the stage ran twice
    run = runs[0]
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    tags, params = run.data.tags, run.data.params
    assert tags["airflow.dag_id"] == "mlrun__pipeline" and tags["airflow.run_id"].startswith("manual__")
    assert tags["aiinfra.spec_sha256"] == hashlib.sha256(spec_path.read_text().encode()).hexdigest()
    assert tags["team"] == "test" and tags["airflow.task.training.train.state"] == "success"
    assert params["stage.train.image"] == "trainer:1" and params["stage.train.requests"] == "cpu=1,memory=1Gi"
    assert params["stage.train.command"] == f"python {train}"
    assert params["airflow.data_interval_end"].startswith("2024-06-01")
    assert run.data.metrics["accuracy"] == 1.0
    # stage outcomes, logged as the pipeline ran: one step per try
    history = client.get_metric_history(run_id, "stage.train.succeeded")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.0), (2, 1.0)]
    assert [a.path for a in client.list_artifacts(run_id, "spec")] == ["spec/mlrun.yaml"]

    versions = client.search_model_versions(f"name = '{model_name}'")
    assert len(versions) == 1
    challenger = client.get_model_version_by_alias(model_name, "challenger")
    assert challenger.run_id == run_id and challenger.tags["aiinfra.spec_sha256"] == tags["aiinfra.spec_sha256"]
    # the newest logged "model" (the successful try) is the one registered
    newest = max(client.search_logged_models([experiment.experiment_id]), key=lambda m: m.creation_timestamp)
    assert challenger.source == f"models:/{newest.model_id}"
    assert "metric gate passed: accuracy = 1 > 0.9" in out

    # extra link "MLflow run" of a stage, computed on the worker
    link = _xcom(airflow_home, "training.train", "_link_MlflowRunLink")
    assert link is not None and f"{mlflow_server.url}/#/experiments/{experiment.experiment_id}/runs/{run_id}" in link

    # nothing secret in the task logs, and the pod takes credentials from the Secret by reference only
    logs = "".join(p.read_text(errors="replace") for p in (airflow_home.home / "logs").rglob("*") if p.is_file())
    assert SECRET not in out and SECRET not in logs
    from airflow_aiinfra.wiring.render import render_spec  # what `aiinfra render` prints

    rendered = render_spec(str(spec_path))
    assert "secretRef:\n        name: mlflow-credentials" in rendered
    assert SECRET not in rendered and "MLFLOW_TRACKING_PASSWORD" not in rendered


def test_server_stopped_mid_run_is_retried_and_ends_the_same_run_failed(
    airflow_home: AirflowHome, mlflow_server: MlflowServer
) -> None:
    experiment = f"down-{uuid.uuid4().hex[:8]}"
    ready, go = airflow_home.root / "ready", airflow_home.root / "go"
    hold = _write(airflow_home.root / "hold.py", HOLD)
    airflow_home.add_spec("down.yaml", f"""
name: down
defaults: {{retries: 10, retry_delay: 3s, retry_exponential_backoff: false}}
training_pipeline:
  stages:
    - name: hold
      image: busybox
      command: [python, {hold}]
      retries: 0
      env: {{READY: {ready}, GO: {go}}}
experiment:
  name: {experiment}
  tracking_uri: {mlflow_server.url}
""")
    log_path = airflow_home.root / "dags-test.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(VENV_BIN / "airflow"), "dags", "test", "down__pipeline", "2024-06-01"],
                                env=airflow_home.env, cwd=airflow_home.root, stdout=log, stderr=subprocess.STDOUT,
                                text=True)
    try:
        _wait(lambda: ready.exists() or proc.poll() is not None, 400)
        assert proc.poll() is None, log_path.read_text()[-4000:]
        mlflow_server.stop()  # mid-run: the pipeline's MLflow run exists and the stage is running
        go.write_text("go")
        _wait(lambda: "MlflowTransientError" in log_path.read_text() or proc.poll() is not None, 300)
    finally:
        if mlflow_server.proc is None:
            mlflow_server.start()
    proc.wait(timeout=400)
    out = log_path.read_text()
    # the stage failed: the DAG run stays failed although the end_run teardown succeeded
    assert "DagRun Finished" in out and not run_succeeded(subprocess.CompletedProcess(proc.args, 0, out, "")), out[-4000:]
    assert "MlflowTransientError: MLflow unavailable or failing" in out
    states = _states_and_tries(airflow_home, "down__pipeline")
    assert states["training.hold"][0] == "failed"
    assert states["mlflow.end_run"][0] == "success" and states["mlflow.end_run"][1] >= 2
    client = mlflow_server.client()
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FAILED"
    assert runs[0].data.tags["airflow.task.training.hold.state"] == "failed"
    # the stage never talks to MLflow itself: its outcome reached the run through end_run, once MLflow was back
    assert runs[0].data.tags["stage.hold.state"] == "failed" and runs[0].data.metrics["stage.hold.succeeded"] == 0.0


def _wait(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(0.5)
