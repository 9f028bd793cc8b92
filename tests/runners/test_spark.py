"""LocalSparkRun's errors, without a JVM. Its real run (the output is right, the application id is in the
log, what local mode cannot enforce is said) is checked once, through the whole stack, by
tests/e2e/test_distributed_dags_test.py: a Spark stage under `airflow dags test`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_aiinfra.errors import LocalRunError
from airflow_aiinfra.kube.spark import Executors, SparkRole
from airflow_aiinfra.runners.spark import LocalSparkRun


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
