"""The loop closed under a real scheduler (LocalExecutor, API server, dag-processor, Postgres metadata DB):
the monitor run of a window whose labels the champion now gets wrong fails its decay check, still emits the
retrain Asset event with the window in its extra, and the pipeline run that event triggers — a run Airflow
creates with no logical date and no data interval — gets past templating and processes that window."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, VENV_BIN
from tests.support.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DB = "aiinfra_test_retrain_loop"
MONITOR_DATE = "2024-06-03T06:00:00+00:00"  # manual run of the "0 6 * * *" monitor: window 06-02 06:00 → 06-03 06:00
WINDOW = ("2024-06-02T06:00:00+00:00", "2024-06-03T06:00:00+00:00")

SPEC = """\
name: loop
schedule: "@daily"
start_date: "2024-06-01"
defaults: {{retries: 0, retry_delay: 1s}}
training_pipeline:
  stages:
    - name: prepare
      image: prep:1
      command: ["python", "-c", "import os, pathlib; p = pathlib.Path(os.environ['OUT']); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(os.environ['WINDOW'])"]
      env:
        OUT: "{root}/out/{{{{ ds_nodash }}}}.txt"
        WINDOW: "{{{{ data_interval_start }}}}|{{{{ data_interval_end }}}}"
batch_inference:
  model: "models:/recsys@champion"
  input: {{path: "{root}/in/{{{{ ds_nodash }}}}.parquet"}}
  output_dir: "{root}/predictions"
  features: [f0, f1, f2, f3]
  keep_columns: [user_id]
drift:
  schedule: "0 6 * * *"
  reference: {{path: "{root}/train.parquet"}}
  current: {{path: "{root}/window.parquet"}}
  features: [{{name: f0}}, {{name: f1}}]
  on_drift: warn
  decay:
    labels: {{path: "{root}/labels.parquet", key: [user_id], label: label}}
    floors: [{{metric: accuracy, op: ">", threshold: 0.9}}]
    on_decay: fail
  retrain_on: [decay]
  cooldown: 1d
"""


def prepare(root: Path, home: Path) -> None:
    """A champion in the embedded MLflow store, the window scored by it, and labels it now gets wrong."""
    code = f"""
import pendulum
from pathlib import Path
from tests.monitoring.support import Registry, frame, MODEL_FEATURES
from airflow_aiinfra.monitoring.scoring import interval_file, score_file
import mlflow.pyfunc
root = Path({str(root)!r})
frame(3000, seed=1).to_parquet(root / "train.parquet", index=False)
reg = Registry("sqlite:///{home / 'mlflow.db'}", Path({str(home)!r}))
reg.register(root / "train.parquet")
window = frame(2000, seed=2, ids_from=5000)
window.to_parquet(root / "window.parquet", index=False)
with reg.hook().session():
    model = mlflow.pyfunc.load_model("models:/recsys/1")
score_file(model, root / "window.parquet", interval_file(root / "predictions", pendulum.parse({WINDOW[0]!r}),
           pendulum.parse({WINDOW[1]!r})), features=MODEL_FEATURES, keep_columns=["user_id"], version="1")
labels = window[["user_id", "label"]].copy()
labels["label"] = 1 - labels["label"]
labels.to_parquet(root / "labels.parquet", index=False)
"""
    subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=300)


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[Stack]:
    (tmp_path / "dags").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "dags" / "aiinfra_dags.py").write_text((ROOT / "dags" / "aiinfra_dags.py").read_text())
    (tmp_path / "specs" / "loop.yaml").write_text(SPEC.format(root=tmp_path))
    prepare(tmp_path, tmp_path / "home")
    s = Stack(tmp_path, DB)
    s.up("loop__pipeline")
    yield s
    s.stop()


def test_decay_emits_the_retrain_event_and_the_triggered_pipeline_runs_on_its_window(stack: Stack) -> None:
    monitor = subprocess.run([str(VENV_BIN / "airflow"), "dags", "test", "loop__monitor", MONITOR_DATE],
                             env=stack.env, cwd=stack.root, text=True, capture_output=True, timeout=600)
    out = monitor.stdout + monitor.stderr
    assert "accuracy = " in out and "floor > 0.9" in out, out[-3000:]  # decay failed, naming metric/value/floor
    states = dict(stack.query("SELECT task_id, state FROM task_instance WHERE dag_id = 'loop__monitor'"))
    assert states == {"monitor.drift": "success", "monitor.decay": "failed", "monitor.retrain": "success"}, out[-3000:]

    events = stack.query("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                         "WHERE a.uri = 'aiinfra://loop/retrain'")
    assert len(events) == 1
    extra = events[0][0] if isinstance(events[0][0], dict) else json.loads(events[0][0])
    assert (extra["data_interval_start"], extra["data_interval_end"]) == WINDOW
    assert "decay found" in extra["reason"]

    def triggered() -> list[tuple]:
        return stack.query("SELECT run_id, state FROM dag_run WHERE dag_id = 'loop__pipeline' "
                           "AND run_type = 'asset_triggered'")

    stack.wait(lambda: any(state in ("success", "failed") for _, state in triggered()), 400, "asset-triggered run")
    [(run_id, state)] = triggered()
    tis = dict(stack.query("SELECT task_id, state FROM task_instance WHERE dag_id = 'loop__pipeline' AND run_id = %s",
                           run_id))
    assert state == "success", (tis, stack.logs())
    # the stage's templates rendered with the event's window: ds_nodash of its start, the interval itself
    written = (stack.root / "out" / "20240602.txt").read_text()
    assert written.split("|") == [WINDOW[0], WINDOW[1]] or written.replace("T", " ").split("|") == [
        w.replace("T", " ") for w in WINDOW]

    # another monitor run of the same bad window (its window ends 0 s after the last request, cool-down 1 d): no event
    t0 = time.time()
    subprocess.run([str(VENV_BIN / "airflow"), "dags", "test", "loop__monitor", "2024-06-03T12:00:00+00:00"],
                   env=stack.env, cwd=stack.root, text=True, capture_output=True, timeout=600)
    assert time.time() - t0 < 600
    assert len(stack.query("SELECT e.id FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                           "WHERE a.uri = 'aiinfra://loop/retrain'")) == 1
