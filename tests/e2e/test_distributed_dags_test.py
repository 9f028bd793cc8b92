"""`airflow dags test` of a spec with a distributed PyTorch stage and a Spark stage, local runner: DDP
across 2 real processes (gloo) on disjoint shards and a real local Spark job, both to success."""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections import defaultdict

import pytest

from tests.conftest import ROOT, AirflowHome, run_succeeded

pytestmark = pytest.mark.slow
pytest.importorskip("torch", reason="torch is installed by `make setup` (pinned CPU build)")
pytest.importorskip("pyspark", reason="the `spark` extra is not installed")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17+ (Debian: openjdk-17-jre-headless)", allow_module_level=True)

SPEC = """
name: distlocal
defaults: {{retries: 0}}
training_pipeline:
  stages:
    - name: ddp
      image: training:latest
      command: ["python", "{root}/examples/ddp/train_ddp.py", "--samples", "256", "--steps", "20",
                "--out", "{out}/params.json"]
      env: {{OMP_NUM_THREADS: "1"}}
      resources: {{cpu: "2", memory: 4Gi}}
      distributed: {{framework: pytorch, nodes: 1, procs_per_node: 2, checkpoint_dir: "{out}/ckpt"}}
    - name: totals
      image: spark:4.0.0
      spark:
        application: {root}/examples/spark/daily_totals.py
        arguments: ["{out}/events.csv", "{out}/totals_{{{{ ds_nodash }}}}"]
        driver: {{cpu: "1", memory: 1Gi}}
        executor: {{cpu: "1", memory: 1Gi}}
        executors: 2
        conf: {{spark.sql.shuffle.partitions: 2}}
"""


def write_events(path, rows: int = 300) -> dict[int, tuple[int, int]]:
    rng = random.Random(11)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "clicks"])
        for _ in range(rows):
            user, clicks = rng.randrange(20), rng.randrange(10)
            w.writerow([user, clicks])
            totals[user][0] += clicks
            totals[user][1] += 1
    return {u: (c, n) for u, (c, n) in totals.items()}


def test_local_ddp_and_spark_stages_run_for_real(airflow_home: AirflowHome) -> None:
    out = airflow_home.root / "out"
    out.mkdir()
    expected = write_events(out / "events.csv")
    airflow_home.add_spec("distlocal.yaml", SPEC.format(root=ROOT, out=out))
    proc = airflow_home.dags_test("distlocal__pipeline", "2024-06-01")
    log = proc.stdout + proc.stderr
    assert run_succeeded(proc), log[-4000:]
    assert airflow_home.task_states("distlocal__pipeline", proc.stdout) == {
        "training.ddp": "success", "training.totals": "success"}

    # DDP: two ranks, each on its own half of the data, rank 0's result and checkpoint in this run's folder
    assert "[rank 0] rank 0/2: shard of 128 samples" in log and "[rank 1] rank 1/2: shard of 128 samples" in log
    assert json.loads((out / "params.json").read_text())["world_size"] == 2
    [ckpt] = (out / "ckpt" / "distlocal" / "ddp").glob("*/model.pt")
    assert ckpt.parent.name.startswith("manual__")  # {{ run_id }}, rendered per DAG run

    # Spark: the application id in the task log, the totals right
    assert "local spark runner: spark application id local-" in log
    [part] = (out / "totals_20240601").glob("part-*.csv")
    with open(part) as fh:
        got = {int(r["user_id"]): (int(r["clicks"]), int(r["events"])) for r in csv.DictReader(fh)}
    assert got == expected
