"""A real `airflow backfill create` of the materialization DAG, run by a real scheduler (LocalExecutor, API
server, dag-processor, metadata DB on the machine's Postgres): each backfilled run writes exactly its window,
and replaying the windows (all of them, or an older one) leaves the online store byte for byte identical."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, VENV_BIN, airflow_env, fresh_database
from tests.feast_support import USERS, inline_spec, latest_in, write_clicks

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DAG_ID = "clicks__materialize"
DB = "aiinfra_test_backfill"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        port = free_port()
        self.env = airflow_env(
            root / "home", root / "dags", root / "specs",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=fresh_database(DB),
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="2",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET="test-only-jwt-secret",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            AIRFLOW__AIINFRA__FEAST_HOME=str(root / "feast"),
        )
        self.port = port
        self.procs: list[subprocess.Popen] = []

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.root, text=True,
                              capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    def start(self, *args: str) -> None:
        log = open(self.root / f"{args[0]}.log", "w")  # noqa: SIM115 - closed with the process group
        self.procs.append(subprocess.Popen([str(VENV_BIN / "airflow"), *args], env=self.env, cwd=self.root,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)

    def runs(self) -> dict[str, str]:
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB) as conn, conn.cursor() as cur:
            cur.execute("SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill'", (DAG_ID,))
            return dict(cur.fetchall())

    def wait_backfill_done(self, expected_runs: int, started_after: float, timeout: float = 400) -> dict[str, str]:
        import psycopg2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB) as conn, conn.cursor() as cur:
                cur.execute("SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill' "
                            "AND end_date > to_timestamp(%s)", (DAG_ID, started_after))
                done = dict(cur.fetchall())
                # the scheduler closes the backfill itself a moment later; a new one waits for that
                cur.execute("SELECT count(*) FROM backfill WHERE completed_at IS NULL")
                open_backfills = cur.fetchone()[0]
            if len(done) >= expected_runs and not open_backfills:
                return done
            time.sleep(2)
        logs = "\n".join((self.root / f).read_text()[-2000:] for f in ("scheduler.log", "api-server.log"))
        raise TimeoutError(f"backfill not done in {timeout}s: {self.runs()}\n{logs}")


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[Stack]:
    (tmp_path / "dags").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "dags" / "aiinfra_dags.py").write_text((ROOT / "dags" / "aiinfra_dags.py").read_text())
    source = write_clicks(tmp_path / "data" / "clicks.parquet")
    (tmp_path / "specs" / "clicks.yaml").write_text(
        inline_spec(source=str(source)).replace("start_date: '2024-06-01'\n",
                                               "start_date: '2024-06-01'\ndefaults: {retries: 0, retry_delay: 1s}\n"))
    s = Stack(tmp_path)
    s.airflow("db", "migrate")
    s.airflow("dags", "reserialize")
    s.airflow("dags", "unpause", DAG_ID)
    s.start("api-server", "--port", str(s.port))
    s.start("scheduler")
    s.start("dag-processor")
    yield s
    s.stop()


def online_rows(root: Path) -> list[tuple]:
    con = sqlite3.connect(root / "feast" / "clicks" / "online_store.db")
    rows = con.execute("SELECT entity_key, feature_name, value, event_ts FROM clicks_user_clicks "
                       "ORDER BY entity_key, feature_name").fetchall()
    con.close()
    return rows


def values_by_user(rows: list[tuple]) -> dict[int, int]:
    from feast.protos.feast.types.Value_pb2 import Value

    values = [Value.FromString(r[2]).int64_val for r in rows]
    return {v // 1000: v for v in values}  # click values are user * 1000 + hour


def test_backfill_writes_each_window_and_replays_change_nothing(stack: Stack) -> None:
    t0 = time.time()
    stack.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2024-06-01T09:00:00+00:00",
                  "--to-date", "2024-06-01T10:00:00+00:00")
    runs = stack.wait_backfill_done(2, t0)
    assert sorted(runs.items()) == [
        (f"backfill__2024-06-01T{h}:00:00+00:00", "success") for h in ("10", "11")]
    first = online_rows(stack.root)
    # the windows [09:00, 10:00) and [10:00, 11:00): each user holds its newest value of 09:00–11:00
    expected = {u: latest_in(u, 9, 11) for u in range(1, USERS + 1) if latest_in(u, 9, 11) is not None}
    assert values_by_user(first) == expected

    t1 = time.time()  # replay both windows: byte for byte the same store
    stack.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2024-06-01T09:00:00+00:00",
                  "--to-date", "2024-06-01T10:00:00+00:00", "--reprocess-behavior", "completed")
    assert set(stack.wait_backfill_done(2, t1).values()) == {"success"}
    assert online_rows(stack.root) == first

    t2 = time.time()  # replay only the oldest window: newer online values are never rolled back
    stack.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2024-06-01T09:00:00+00:00",
                  "--to-date", "2024-06-01T09:00:00+00:00", "--reprocess-behavior", "completed")
    assert set(stack.wait_backfill_done(1, t2).values()) == {"success"}
    assert online_rows(stack.root) == first
