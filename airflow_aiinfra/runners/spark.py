"""Run a Spark stage's application with a real local Spark (pyspark's spark-submit, ``local[N]``).

The same application file a SparkApplication runs on the cluster runs here under
``spark-submit --master local[N]``: N threads stand in for the executors' cores, the
driver's declared memory becomes the JVM heap. What local mode cannot honour (executor
count or dynamic range, executor memory, GPUs, the image, pod placement) is said in the
log, as the pod runner does. The application id is read from Spark's event log (its
directory is named after it) and logged as soon as the application starts.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_aiinfra.errors import LocalRunError
from airflow_aiinfra.kube.spark import Executors, SparkRole, spark_memory
from airflow_aiinfra.runners.procs import ProcessGroup, end_groups

_APP_ID = re.compile(r"(local-\d+|app-\d{14}-\d+|spark-[0-9a-f]{32})")


def spark_home() -> str:
    """pyspark's own distribution (found without importing pyspark); it ships bin/spark-submit."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise LocalRunError(
            "pyspark is not installed on this worker: install the `spark` extra "
            "(pip install 'airflow-aiinfra[spark]'), or set [aiinfra] runner = kubernetes"
        )
    return list(spec.submodule_search_locations)[0]


def app_id_in(event_log_dir: Path) -> str | None:
    for entry in sorted(event_log_dir.glob("*")):
        if m := _APP_ID.search(entry.name):
            return m.group(1)
    return None


class LocalSparkRun:
    """A Spark stage's application under ``spark-submit --master local[N]`` on this machine.

    :param application: the main file (``local://`` prefix allowed), relative to ``cwd``.
    :param max_local_cores: cap on N (default: this machine's CPU count).
    """

    def __init__(
        self,
        *,
        application: str,
        arguments: Sequence[str] = (),
        conf: Mapping[str, str] | None = None,
        driver: SparkRole,
        executor: SparkRole,
        executors: Executors,
        env: Mapping[str, str],
        log: Any,
        cwd: str | None = None,
        app_name: str | None = None,
        max_local_cores: int | None = None,
        timeout: float | None = None,
        grace_seconds: float = 10.0,
        python: str = sys.executable,
    ) -> None:
        self.application = application.removeprefix("local://")
        self.arguments = [str(a) for a in arguments]
        self.conf = {str(k): str(v) for k, v in (conf or {}).items()}
        self.driver = driver
        self.executor = executor
        self.executors = executors
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.app_name = app_name
        self.max_local_cores = max_local_cores or os.cpu_count() or 1
        self.timeout = timeout
        self.grace_seconds = grace_seconds
        self.python = python
        self.group: ProcessGroup | None = None
        self.app_id: str | None = None
        self._killed = False
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        cores = self.executors.initial * max(1, int(float(self.executor.fields()["cores"])))
        return max(1, min(cores, self.max_local_cores))

    def unenforced(self) -> list[str]:
        """What the cluster would get that local mode cannot: said in the log, not silently dropped."""
        e, ex = self.executors, self.executor
        count = (
            f"{e.count} executor(s)"
            if e.count is not None
            else f"dynamic allocation {e.min_count}..{e.max_count}"
        )
        notes = [
            f"{count} × {ex.fields()['cores']} core(s) run as local[{self.threads}] threads in one JVM",
            f"executor memory {ex.memory}"
            + (f" + overhead {ex.memory_overhead}" if ex.memory_overhead else "")
            + f" is not applied: executors share the driver JVM's heap ({self.driver.memory})",
            "the image, node selector, tolerations, volumes and Kubernetes secrets do not apply",
        ]
        if ex.gpu or self.driver.gpu:
            notes.append("GPUs are not requested in local mode")
        if self.driver.memory_overhead:
            notes.append(f"driver memory overhead {self.driver.memory_overhead} is not applied")
        return notes

    def argv(self, event_log_dir: Path) -> list[str]:
        conf = {
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            **self.conf,
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": event_log_dir.as_uri(),
            "spark.pyspark.python": self.python,
            "spark.pyspark.driver.python": self.python,
        }
        if self.app_name:
            conf["spark.app.name"] = self.app_name
        argv = [
            os.path.join(spark_home(), "bin", "spark-submit"),
            "--master",
            f"local[{self.threads}]",
            "--driver-memory",
            spark_memory(self.driver.memory),
        ]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        return [*argv, self.application, *self.arguments]

    def run(self) -> str:
        """Run to the end and return the application id; raises LocalRunError on failure, timeout or kill."""
        path = Path(self.cwd or ".") / self.application
        if not path.is_file():
            raise LocalRunError(
                f"spark application {self.application!r} not found in {path.parent}: give the main "
                "file's path relative to the spec's folder"
            )
        for note in self.unenforced():
            self.log.warning("local spark runner: %s", note)
        env = {
            **self.env,
            "SPARK_HOME": spark_home(),
            "PYSPARK_PYTHON": self.python,
            "PYSPARK_DRIVER_PYTHON": self.python,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
        with tempfile.TemporaryDirectory(prefix="aiinfra-spark-events-") as events:
            event_dir = Path(events)
            argv = self.argv(event_dir)
            self.log.info("local spark runner: %s", " ".join(argv))
            with self._lock:
                if self._killed:
                    raise LocalRunError("the run was killed before it started")
                self.group = ProcessGroup(
                    argv, env=env, cwd=self.cwd, on_line=lambda line: self.log.info("[spark] %s", line)
                )
            return self._wait(self.group, event_dir)

    def _wait(self, group: ProcessGroup, event_dir: Path) -> str:
        deadline = time.monotonic() + self.timeout if self.timeout else None
        try:
            while (code := group.poll()) is None:
                self._note_app_id(event_dir)
                if self._killed:
                    raise LocalRunError("the spark run was killed")
                if deadline is not None and time.monotonic() > deadline:
                    raise LocalRunError(f"the spark application did not finish within {self.timeout:.0f} s")
                time.sleep(0.2)
            group.drain()
            self._note_app_id(event_dir)
            if self._killed:
                raise LocalRunError("the spark run was killed")
            if code != 0:
                raise LocalRunError(
                    f"spark-submit of {self.application!r} exited with code {code} "
                    f"(application {self.app_id or 'not started'}): see its output above",
                    code,
                )
            if self.app_id is None:
                raise LocalRunError(
                    "the spark application finished without starting a SparkContext "
                    "(no event log was written): does the file create a SparkSession?"
                )
            self.log.info("local spark runner: application %s finished", self.app_id)
            return self.app_id
        finally:
            end_groups([group], grace=self.grace_seconds)

    def _note_app_id(self, event_dir: Path) -> None:
        if self.app_id is None and (found := app_id_in(event_dir)):
            self.app_id = found
            self.log.info("local spark runner: spark application id %s", found)

    def kill(self) -> None:
        with self._lock:
            self._killed = True
            group = self.group
        if group is not None:
            end_groups([group], grace=self.grace_seconds)
