"""Stage-task start-up under a real scheduler: an aiinfra stage vs a plain BashOperator running the same command.

Run by hand (not a test; needs PostgreSQL on 127.0.0.1:5432, about 10 minutes)::

    .venv/bin/python benchmarks/stage_startup.py [--runs 5]

One Airflow deployment per configuration (API server, scheduler, dag-processor, LocalExecutor, metadata DB on
PostgreSQL; ``tests/support/stack.py``), with three DAGs:

* ``one__pipeline``: a spec with an experiment and one stage running ``python -c pass`` (local runner), loaded
  by a loader file that holds only that spec (a 1-spec parse unit);
* ``s000__pipeline``: the same stage in a loader file holding 100 such specs (a 100-spec parse unit);
* ``plain``: a hand-written DAG with one ``BashOperator`` running the same command.

Each DAG is triggered ``--runs`` times, one run at a time. The figure is the stage task instance's
``end_date - start_date`` (what the task process spends: parsing the DAG file, imports, running the command,
reporting), median over the runs, and ``end_date - queued_dttm`` beside it. Two configurations: the default
deployment, and one whose ``airflow_local_settings.py`` imports ``airflow_aiinfra.preload``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.stack import Stack  # noqa: E402

ONE = """\
name: {name}
defaults: {{retries: 0}}
training_pipeline:
  stages:
    - {{name: work, image: busybox, command: [python, -c, pass]}}
{experiment}"""
PLAIN = '''\
import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("plain", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):
    BashOperator(task_id="work", bash_command="{python} -c pass", retries=0)
'''
LOADER = '''\
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator  # noqa: F401

from airflow_aiinfra.wiring.loader import load_dags

load_dags(globals(), folder={folder!r})
'''
DAGS = {"one__pipeline": "training.work", "s000__pipeline": "training.work", "plain": "work"}


def layout(root: Path, preload: bool) -> None:
    (root / "dags").mkdir(parents=True)
    for folder, count in (("specs_one", 1), ("specs_hundred", 100)):
        (root / folder).mkdir()
        for i in range(count):
            name = "one" if count == 1 else f"s{i:03d}"
            experiment = "experiment: {tags: {bench: startup}}\n" if count == 1 else ""
            (root / folder / f"{name}.yaml").write_text(ONE.format(name=name, experiment=experiment))
        (root / "dags" / f"aiinfra_{folder}.py").write_text(LOADER.format(folder=str(root / folder)))
    (root / "dags" / "plain.py").write_text(PLAIN.format(python=sys.executable))
    (root / "specs").mkdir()
    if preload:
        (root / "home" / "config").mkdir(parents=True)
        (root / "home" / "config" / "airflow_local_settings.py").write_text("import airflow_aiinfra.preload  # noqa\n")


def trigger_and_wait(stack: Stack, dag_id: str, task_id: str) -> tuple[float, float]:
    before = stack.query("SELECT count(*) FROM dag_run WHERE dag_id = %s", dag_id)[0][0]
    stack.airflow("dags", "trigger", dag_id)
    stack.wait(lambda: stack.query("SELECT count(*) FROM dag_run WHERE dag_id = %s AND state IN "
                                   "('success', 'failed')", dag_id)[0][0] > before, 300, f"run of {dag_id}")
    (start, end, queued, state), = stack.query(
        "SELECT ti.start_date, ti.end_date, ti.queued_dttm, ti.state FROM task_instance ti JOIN dag_run dr "
        "ON ti.dag_id = dr.dag_id AND ti.run_id = dr.run_id WHERE ti.dag_id = %s AND ti.task_id = %s "
        "ORDER BY dr.id DESC LIMIT 1", dag_id, task_id)
    assert state == "success", f"{dag_id}.{task_id} ended {state}\n{stack.logs()}"
    return (end - start).total_seconds(), (end - queued).total_seconds()


def measure(preload: bool, runs: int) -> dict[str, list[tuple[float, float]]]:
    root = Path(tempfile.mkdtemp(prefix="aiinfra-startup-"))
    layout(root, preload)
    stack = Stack(root, "aiinfra_bench_startup")
    stack.up(*DAGS)
    try:
        time.sleep(5)
        out: dict[str, list[tuple[float, float]]] = {d: [] for d in DAGS}
        for _ in range(runs):
            for dag_id, task_id in DAGS.items():
                out[dag_id].append(trigger_and_wait(stack, dag_id, task_id))
        return out
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| deployment | DAG | task start→end s (median) | vs plain | queued→end s (median) | vs plain |")
    print("|---|---|---:|---:|---:|---:|")
    for preload in (False, True):
        results = measure(preload, args.runs)
        plain = [statistics.median(x[i] for x in results["plain"]) for i in (0, 1)]
        for dag_id, samples in results.items():
            run, total = (statistics.median(x[i] for x in samples) for i in (0, 1))
            print(f"| {'preload' if preload else 'default'} | {dag_id} | {run:.2f} | {run / plain[0]:.2f}x "
                  f"| {total:.2f} | {total / plain[1]:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
