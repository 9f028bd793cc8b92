"""The gate's SQL path on SQLite (PRAGMA query_only): values bound, writes refused as permanent errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from airflow_aiinfra.errors import DataSourceInvalid
from airflow_aiinfra.hooks.data_source import DataSourceHook

HOSTILE = "'; DROP TABLE t; --"


@pytest.fixture
def lite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "x.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a int, s text)")
    con.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    con.commit()
    con.close()
    monkeypatch.setenv("AIRFLOW_CONN_LITE", f"sqlite:///{path}")
    return path


def _count(path: Path) -> int:
    con = sqlite3.connect(path)
    (n,) = con.execute("SELECT count(*) FROM t").fetchone()
    con.close()
    return n


@pytest.mark.parametrize("query", ["DELETE FROM t RETURNING a", "DROP TABLE t", "INSERT INTO t VALUES (3, 'z')"])
def test_sqlite_writes_are_refused(lite: Path, query: str) -> None:
    with pytest.raises(DataSourceInvalid, match="read-only transaction"):
        DataSourceHook("lite").read_query(query)
    assert _count(lite) == 2


def test_sqlite_values_are_bound(lite: Path) -> None:
    df = DataSourceHook("lite").read_query("SELECT :v AS v, count(*) AS n FROM t WHERE s <> :v", {"v": HOSTILE})
    assert df.to_dict("records") == [{"v": HOSTILE, "n": 2}]
    assert _count(lite) == 2
