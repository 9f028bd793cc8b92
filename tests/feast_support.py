"""Shared pieces of the Feast tests: the seed block, a deterministic click source, and store fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import scoped

SEED = """\
feature_store:
  entities:
    - name: "user"
      join_keys: ["user_id"]
      description: "用户实体"
  features:
    - name: "user_click_count"
      entity: "user"
      dtype: "int64"
      ttl: "7d"
      online: true
  consistency:
    - check_interval: "1h"
    - tolerance: 0.001
    - alert_threshold: 0.01
"""
T0 = datetime(2024, 6, 1, tzinfo=UTC)
USERS = 20
HOURS = 48
# One per pytest-xdist worker (gw0, gw1, ...), so two workers never flush or recreate each other's store.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
PG_DB_BASE = "aiinfra_feast_online"  # fresh_database(PG_DB_BASE) creates PG_DB, this process's own
PG_DB = scoped(PG_DB_BASE)
REDIS_DB = 11 + _WORKER  # dedicated to these tests on the shared Redis; only this DB is ever flushed


def click_value(user: int, hour: int) -> int:
    """The value of user_click_count for ``user`` at T0 + ``hour`` hours: readable in assertions."""
    return user * 1000 + hour


def write_clicks(path: Path, users: int = USERS, hours: int = HOURS) -> Path:
    """One row per user per hour from T0; users with (user + hour) % 5 == 0 skip that hour."""
    import pandas as pd

    rows = [(u, T0 + timedelta(hours=h), click_value(u, h)) for h in range(hours) for u in range(1, users + 1)
            if (u + h) % 5 != 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["user_id", "event_timestamp", "user_click_count"]).to_parquet(path, index=False)
    return path


def latest_in(user: int, start_hour: int, end_hour: int) -> int | None:
    """The row materialize must write for ``user`` for the window [start_hour, end_hour)."""
    hours = [h for h in range(start_hour, end_hour) if (user + h) % 5 != 0]
    return click_value(user, max(hours)) if hours else None


def inline_spec(name: str = "clicks", source: str = "data/clicks.parquet", extra: str = "") -> str:
    """The seed block verbatim, plus a source (and whatever ``extra`` adds inside feature_store)."""
    return f"name: {name}\nstart_date: '2024-06-01'\n{SEED}  sources:\n    clicks: {{path: {source}}}\n{extra}"


def feast_init(parent: Path) -> Path:
    """``feast init`` (Feast's own example: driver stats it generates relative to today); returns the repo."""
    feast = Path(sys.executable).parent / "feast"
    subprocess.run([str(feast), "init", "driver_demo"], cwd=parent, check=True, capture_output=True, timeout=300)
    return parent / "driver_demo" / "feature_repo"


@pytest.fixture
def redis_db(redis_url: str):
    import redis

    client = redis.Redis.from_url(f"{redis_url}/{REDIS_DB}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def dump_online(hook: Any, kind: str, view: str | None = None) -> list:
    """The raw content of the online store (of one view's table for SQL stores), byte for byte."""
    table = hook.online_tables([hook.store.get_feature_view(view)] if view else None)[0]
    if kind == "sqlite":
        import sqlite3

        from feast.infra.online_stores.sqlite import SqliteOnlineStore

        con = sqlite3.connect(SqliteOnlineStore._get_db_path(hook.repo_config))
        rows = con.execute(f'SELECT entity_key, feature_name, value, event_ts FROM "{table}" ORDER BY 1, 2').fetchall()
        con.close()
        return rows
    if kind == "redis":
        import redis

        client = redis.Redis(db=REDIS_DB)
        return sorted((k, sorted(client.hgetall(k).items())) for k in client.keys())
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{PG_DB}") as con:
        return con.execute(f'SELECT entity_key, feature_name, value, event_ts FROM "{table}" ORDER BY 1, 2').fetchall()
