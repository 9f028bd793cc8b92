"""A real `airflow backfill create` of the materialization DAG, run by a real scheduler (LocalExecutor, API
server, dag-processor, metadata DB on the machine's Postgres): each backfilled run writes exactly its window,
and replaying the windows (all of them, or an older one) leaves the online store byte for byte identical."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.feast_support import USERS, inline_spec, latest_in, write_clicks
from tests.support.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DAG_ID = "clicks__materialize"
DB = "aiinfra_test_backfill"


def runs(stack: Stack) -> dict[str, str]:
    return dict(stack.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill'", DAG_ID))


def wait_backfill_done(stack: Stack, expected_runs: int, started_after: float, timeout: float = 400) -> dict[str, str]:
    done: dict[str, str] = {}

    def finished() -> bool:
        done.clear()
        done.update(stack.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_type = 'backfill' "
                                "AND end_date > to_timestamp(%s)", DAG_ID, started_after))
        # the scheduler closes the backfill itself a moment later; a new one waits for that
        open_backfills = stack.query("SELECT count(*) FROM backfill WHERE completed_at IS NULL")[0][0]
        return len(done) >= expected_runs and not open_backfills

    stack.wait(finished, timeout, f"backfill ({runs(stack)})")
    return done


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[Stack]:
    (tmp_path / "dags").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "dags" / "aiinfra_dags.py").write_text((ROOT / "dags" / "aiinfra_dags.py").read_text())
    source = write_clicks(tmp_path / "data" / "clicks.parquet")
    (tmp_path / "specs" / "clicks.yaml").write_text(
        inline_spec(source=str(source)).replace("start_date: '2024-06-01'\n",
                                               "start_date: '2024-06-01'\ndefaults: {retries: 0, retry_delay: 1s}\n"))
    s = Stack(tmp_path, DB, AIRFLOW__AIINFRA__FEAST_HOME=str(tmp_path / "feast"))
    s.up(DAG_ID)
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
    runs = wait_backfill_done(stack, 2, t0)
    assert sorted(runs.items()) == [
        (f"backfill__2024-06-01T{h}:00:00+00:00", "success") for h in ("10", "11")]
    first = online_rows(stack.root)
    # the windows [09:00, 10:00) and [10:00, 11:00): each user holds its newest value of 09:00–11:00
    expected = {u: latest_in(u, 9, 11) for u in range(1, USERS + 1) if latest_in(u, 9, 11) is not None}
    assert values_by_user(first) == expected

    t1 = time.time()  # replay both windows: byte for byte the same store
    stack.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2024-06-01T09:00:00+00:00",
                  "--to-date", "2024-06-01T10:00:00+00:00", "--reprocess-behavior", "completed")
    assert set(wait_backfill_done(stack, 2, t1).values()) == {"success"}
    assert online_rows(stack.root) == first

    t2 = time.time()  # replay only the oldest window: newer online values are never rolled back
    stack.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", "2024-06-01T09:00:00+00:00",
                  "--to-date", "2024-06-01T09:00:00+00:00", "--reprocess-behavior", "completed")
    assert set(wait_backfill_done(stack, 1, t2).values()) == {"success"}
    assert online_rows(stack.root) == first
