"""LocalSparkRun runs the example application with a real local Spark (one JVM for the module):
the output is right, the application id is in the log, and what local mode cannot enforce is said."""

from __future__ import annotations

import csv
import logging
import os
import random
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from airflow_aiinfra.errors import LocalRunError
from airflow_aiinfra.kube.spark import Executors, SparkRole
from airflow_aiinfra.runners.spark import LocalSparkRun

pytest.importorskip("pyspark", reason="the `spark` extra is not installed")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17+ (Debian: openjdk-17-jre-headless)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
APP = "examples/spark/daily_totals.py"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_spark(tmp: Path, **kw) -> tuple[LocalSparkRun, list[str]]:
    log = logging.getLogger(f"tests.spark.{tmp.name}")
    log.setLevel(logging.INFO)
    collect = Collect()
    log.addHandler(collect)
    run = LocalSparkRun(
        application=APP,
        arguments=[str(tmp / "events.csv"), str(tmp / "out")],
        conf={"spark.sql.shuffle.partitions": "4"},
        driver=SparkRole(cpu="1", memory="1Gi"),
        executor=SparkRole(cpu="1", memory="2Gi", memory_overhead="512Mi"),
        executors=Executors(min_count=2, max_count=8),
        env=dict(os.environ),
        log=log,
        cwd=str(ROOT),
        app_name="daily-totals-test",
        timeout=240,
        **kw,
    )
    return run, collect.lines


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory):
    """One real spark-submit for the whole module (JVM start-up is the cost)."""
    tmp = tmp_path_factory.mktemp("spark")
    rng = random.Random(7)
    expected: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    with open(tmp / "events.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "clicks"])
        for _ in range(2000):
            user, clicks = rng.randrange(50), rng.randrange(10)
            w.writerow([user, clicks])
            expected[user][0] += clicks
            expected[user][1] += 1
    run, lines = run_spark(tmp)
    app_id = run.run()
    return tmp, app_id, lines, {u: tuple(v) for u, v in expected.items()}


def test_output_is_the_aggregate_of_the_generated_data(spark_run) -> None:
    tmp, _, _, expected = spark_run
    [part] = (tmp / "out").glob("part-*.csv")
    with open(part) as fh:
        got = {int(r["user_id"]): (int(r["clicks"]), int(r["events"])) for r in csv.DictReader(fh)}
    assert got == expected


def test_application_id_is_in_the_log(spark_run) -> None:
    _, app_id, lines, _ = spark_run
    assert app_id.startswith("local-")
    assert f"local spark runner: spark application id {app_id}" in lines
    assert any(
        line.startswith("[spark] daily_totals: 2000 events, 50 users, application " + app_id)
        for line in lines
    )


def test_local_mode_maps_resources_and_says_what_it_cannot_enforce(spark_run) -> None:
    _, _, lines, _ = spark_run
    cmd = next(line for line in lines if line.startswith("local spark runner: ") and "spark-submit" in line)
    assert f"--master local[{min(2, os.cpu_count() or 1)}]" in cmd and "--driver-memory 1024m" in cmd
    assert "spark.sql.shuffle.partitions=4" in cmd
    notes = "\n".join(lines)
    assert "dynamic allocation 2..8 × 1 core(s) run as local[" in notes
    assert "executor memory 2Gi + overhead 512Mi is not applied" in notes


def test_missing_application_is_a_clear_error(tmp_path: Path) -> None:
    run = LocalSparkRun(
        application="local://nope.py",
        driver=SparkRole(),
        executor=SparkRole(),
        executors=Executors(count=1),
        env={},
        log=logging.getLogger("t"),
        cwd=str(tmp_path),
    )
    with pytest.raises(LocalRunError, match="spark application 'nope.py' not found in"):
        run.run()
