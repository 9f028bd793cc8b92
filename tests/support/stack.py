"""A real Airflow deployment on this machine: API server, scheduler and dag-processor with the LocalExecutor,
the metadata DB in a fresh database on the machine's PostgreSQL. Used by the end-to-end suites and the
start-up benchmark; each instance runs on its own free port and database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import VENV_BIN, airflow_env, fresh_database, scoped


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, root: Path, database: str, **extra_env: str) -> None:
        self.root = root
        self.database = scoped(database)
        self.port = free_port()
        self.env = airflow_env(
            root / "home", root / "dags", root / "specs",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=fresh_database(database),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="2",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET="test-only-jwt-secret",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            **extra_env,
        )
        self.procs: list[subprocess.Popen] = []

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.root, text=True,
                              capture_output=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    def start(self, *args: str) -> None:
        log = open(self.root / f"{args[0]}.log", "w")  # noqa: SIM115 - closed with the process group
        self.procs.append(subprocess.Popen([str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.root,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def up(self, *unpause: str) -> None:
        """Migrate, serialize the DAGs, unpause these, start the API server, scheduler and dag-processor."""
        self.airflow("db", "migrate")
        self.airflow("dags", "reserialize")
        for dag_id in unpause:
            self.airflow("dags", "unpause", dag_id)
        self.start("api-server", "--port", str(self.port))
        self.start("scheduler")
        self.start("dag-processor")

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)

    def query(self, sql: str, *args: object) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=self.database) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def logs(self) -> str:
        return "\n".join((self.root / f).read_text()[-2000:] for f in ("scheduler.log", "api-server.log")
                         if (self.root / f).exists())

    def wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(1)
        raise TimeoutError(f"{what} not done in {timeout}s\n{self.logs()}")
