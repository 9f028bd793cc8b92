"""`airflow dags test` of a spec with a distributed PyTorch stage and a Spark stage under the local runner:
DDP across 2 real processes on disjoint shards and a real local Spark job, both to success. One run for the
module (torch and the JVM start-up are the cost); each test reads what it left.

These also hold the local runners' end-to-end checks (tests/runners keeps the failure, kill and timeout
cases): DDP on shards reproduces full-batch training, nccl falls back to gloo without GPUs, the Spark output
is the aggregate of the generated data, its application id is in the log, and what local mode cannot
enforce is said."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, AirflowHome, run_succeeded

pytestmark = pytest.mark.slow
pytest.importorskip("torch", reason="torch is installed by `make setup` (pinned CPU build)")
pytest.importorskip("pyspark", reason="the `spark` extra is not installed")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17+ (Debian: openjdk-17-jre-headless)", allow_module_level=True)

DDP_SCRIPT = ROOT / "examples" / "ddp" / "train_ddp.py"
SPEC = """
name: distlocal
defaults: {{retries: 0}}
training_pipeline:
  stages:
    - name: ddp
      image: training:latest
      command: ["python", "{script}", "--samples", "512", "--steps", "50", "--out", "{out}/params.json"]
      resources: {{cpu: "2", memory: 4Gi, gpu: 2}}   # 2 processes (one per GPU), nccl: gloo here
      distributed: {{framework: pytorch, nodes: 1, checkpoint_dir: "{out}/ckpt"}}
    - name: totals
      image: spark:4.0.0
      spark:
        application: {root}/examples/spark/daily_totals.py
        arguments: ["{out}/events.csv", "{out}/totals_{{{{ ds_nodash }}}}"]
        driver: {{cpu: "1", memory: 1Gi}}
        executor: {{cpu: "1", memory: 2Gi, memory_overhead: 512Mi}}
        executors: {{min: 2, max: 8}}
        conf: {{spark.sql.shuffle.partitions: 4}}
"""


@dataclass
class Run:
    out: Path
    log: str
    proc: subprocess.CompletedProcess[str]
    states: dict[str, str]
    expected_totals: dict[int, tuple[int, int]]


def write_events(path: Path, rows: int = 2000, users: int = 50) -> dict[int, tuple[int, int]]:
    rng = random.Random(7)
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "clicks"])
        for _ in range(rows):
            user, clicks = rng.randrange(users), rng.randrange(10)
            w.writerow([user, clicks])
            totals[user][0] += clicks
            totals[user][1] += 1
    return {u: (c, n) for u, (c, n) in totals.items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite_db: Path) -> Run:
    home = AirflowHome(tmp_path_factory.mktemp("distlocal"), migrated_sqlite_db)
    out = home.root / "out"
    out.mkdir()
    expected = write_events(out / "events.csv")
    home.add_spec("distlocal.yaml", SPEC.format(root=ROOT, script=DDP_SCRIPT, out=out))
    proc = home.dags_test("distlocal__pipeline", "2024-06-01")
    return Run(out, proc.stdout + proc.stderr, proc, home.task_states("distlocal__pipeline", proc.stdout), expected)


def test_both_stages_succeed(run: Run) -> None:
    assert run_succeeded(run.proc), run.log[-4000:]
    assert run.states == {"training.ddp": "success", "training.totals": "success"}


def test_ddp_on_disjoint_shards_equals_full_batch_training(run: Run) -> None:
    spec = importlib.util.spec_from_file_location("train_ddp", DDP_SCRIPT)
    assert spec is not None and spec.loader is not None
    ddp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ddp)
    x, y = ddp.make_data(512, 8)
    full, one = ddp.make_model(8, 0), ddp.make_model(8, 0)
    ddp.train(full, x, y, steps=50, lr=0.1)
    ddp.train(one, *ddp.shard(x, y, 0, 2), steps=50, lr=0.1)

    got = json.loads((run.out / "params.json").read_text())
    assert got["world_size"] == 2
    assert max(abs(a - b) for a, b in zip(got["params"], ddp.params_of(full), strict=True)) < 1e-5
    assert max(abs(a - b) for a, b in zip(got["params"], ddp.params_of(one), strict=True)) > 1e-3
    assert "[rank 0] rank 0/2: shard of 256 samples" in run.log
    assert "[rank 1] rank 1/2: shard of 256 samples" in run.log


def test_ddp_gets_gloo_without_gpus_and_a_checkpoint_directory_per_run(run: Run) -> None:
    assert "backend nccl needs GPUs and this worker has none: using gloo" in run.log
    [ckpt] = (run.out / "ckpt" / "distlocal" / "ddp").glob("*/model.pt")
    assert ckpt.parent.name.startswith("manual__")  # {{ run_id }}, rendered per DAG run


def test_spark_output_is_the_aggregate_of_the_generated_data(run: Run) -> None:
    [part] = (run.out / "totals_20240601").glob("part-*.csv")
    with open(part) as fh:
        got = {int(r["user_id"]): (int(r["clicks"]), int(r["events"])) for r in csv.DictReader(fh)}
    assert got == run.expected_totals


def test_spark_application_id_and_what_local_mode_cannot_enforce_are_logged(run: Run) -> None:
    assert "local spark runner: spark application id local-" in run.log
    assert "[spark] daily_totals: 2000 events, 50 users, application local-" in run.log
    assert f"--master local[{min(2, os.cpu_count() or 1)}]" in run.log and "--driver-memory 1024m" in run.log
    assert "spark.sql.shuffle.partitions=4" in run.log
    assert "dynamic allocation 2..8 × 1 core(s) run as local[" in run.log
    assert "executor memory 2Gi + overhead 512Mi is not applied" in run.log
