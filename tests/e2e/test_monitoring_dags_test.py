"""The inference and monitor DAGs of a spec, run by `airflow dags test` with the local runner against a
champion registered in the embedded MLflow store: the scoring stage gets the pinned version through XCom,
writes the interval's file, the monitor waits for it, checks drift against what the champion was trained on
(read back from MLflow), checks decay on the labels, and requests retraining."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, VENV_BIN, AirflowHome, run_succeeded

pytestmark = [pytest.mark.slow]

SPEC = """\
name: loop2
schedule: "@daily"
start_date: "2024-06-01"
defaults: {{retries: 0, retry_delay: 1s}}
training_pipeline:
  stages:
    - {{name: train, image: t:1, command: ["true"]}}
experiment:
  registered_model: recsys
  model_stage: train
  metric_gates: [{{metric: accuracy, op: ">", threshold: 0.5}}]
  datasets: {{training: {{path: "{root}/train.parquet"}}}}
batch_inference:
  model: "models:/recsys@champion"
  input: {{path: "{root}/in/{{{{ ds_nodash }}}}.parquet"}}
  output_dir: "{root}/predictions"
  features: [f0, f1, f2, f3]
  keep_columns: [user_id]
  chunk_rows: 700
drift:
  reference: champion
  current: batch_inference
  features: [{{name: f0}}, {{name: f1}}, {{name: f2}}, {{name: f3}}]
  prediction: {{name: prediction, type: categorical, test: jensenshannon}}
  drift_share: 0.25
  on_drift: warn
  decay:
    labels: {{path: "{root}/labels/{{{{ ds_nodash }}}}.parquet", key: [user_id], label: label}}
  retrain_on: [drift]
"""


def prepare(root: Path, home: Path) -> None:
    code = f"""
from pathlib import Path
from tests.monitoring.support import Registry, frame
root = Path({str(root)!r})
frame(4000, seed=1).to_parquet(root / "train.parquet", index=False)
Registry("sqlite:///{home / 'mlflow.db'}", Path({str(home)!r})).register(root / "train.parquet")
(root / "in").mkdir(); (root / "labels").mkdir()
for day in ("20240601", "20240602"):
    w = frame(2500, seed=3, shift={{"f1": 1.0}}, ids_from=9000)
    w.to_parquet(root / "in" / f"{{day}}.parquet", index=False)
    w[["user_id", "label"]].to_parquet(root / "labels" / f"{{day}}.parquet", index=False)
"""
    subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=300)


def test_inference_then_monitor_with_the_champion(airflow_home: AirflowHome) -> None:
    import pandas as pd

    root = airflow_home.root
    airflow_home.add_spec("loop2.yaml", SPEC.format(root=root))
    prepare(root, airflow_home.home)

    inference = airflow_home.dags_test("loop2__inference", "2024-06-02")
    assert run_succeeded(inference), (inference.stdout + inference.stderr)[-4000:]
    [output] = sorted((root / "predictions").iterdir())
    scored = pd.read_parquet(output)
    assert len(scored) == 2500 and set(scored.model_version) == {"1"}
    assert "rows written: 2500" in inference.stdout + inference.stderr

    monitor = airflow_home.dags_test("loop2__monitor", "2024-06-02")
    out = monitor.stdout + monitor.stderr
    assert run_succeeded(monitor), out[-4000:]
    states = airflow_home.task_states("loop2__monitor", out)
    assert states == {"monitor.wait_inference": "success", "monitor.drift": "success", "monitor.decay": "success",
                      "monitor.retrain": "success"}, states
    assert "MONITORING WARNING" in out and "f1: psi (psi) = " in out  # warn: the task succeeds, named in the log
    assert "retrain requested (drift found)" in out
