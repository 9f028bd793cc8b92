"""Publishing an interval's batch output into PostgreSQL: the interval's rows are replaced in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_aiinfra.errors import DataSourceInvalid
from airflow_aiinfra.monitoring.scoring import score_file
from airflow_aiinfra.operators.inference_table import publish_interval, quoted
from tests.conftest import fresh_database

pytestmark = pytest.mark.integration
DAY1 = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC))
DAY2 = (datetime(2024, 6, 2, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC))


class Threshold:  # a model: predicts 1 when a > 0
    def predict(self, df):
        return (df["a"] > 0).astype(int).to_numpy()


def output(tmp_path: Path, n: int, seed: int) -> Path:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pd.DataFrame({"user_id": np.arange(n), "a": rng.normal(size=n)}).to_parquet(tmp_path / "in.parquet", index=False)
    out = tmp_path / f"out-{seed}.parquet"
    score_file(Threshold(), tmp_path / "in.parquet", out, features=["a"], keep_columns=["user_id"], version="3",
               run_id="abc")
    return out


def test_publish_replaces_the_intervals_rows(postgres_url: str, tmp_path: Path) -> None:
    import psycopg2

    url = fresh_database("aiinfra_test_publish")
    connect = lambda: psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))  # noqa: E731
    first = output(tmp_path, 25_000, seed=1)
    assert publish_interval(connect(), str(first), "public.predictions", *DAY1) == 25_000
    assert publish_interval(connect(), str(first), "public.predictions", *DAY2) == 25_000
    assert publish_interval(connect(), str(first), "public.predictions", *DAY1) == 25_000  # rerun: no duplicates
    changed = output(tmp_path, 1_000, seed=2)
    publish_interval(connect(), str(changed), "public.predictions", *DAY1)  # changed input: replaced
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT window_start::date, count(*), min(model_version), min(model_run_id) "
                    "FROM predictions GROUP BY 1 ORDER BY 1")
        assert [(str(d), n, v, r) for d, n, v, r in cur.fetchall()] == [
            ("2024-06-01", 1_000, "3", "abc"), ("2024-06-02", 25_000, "3", "abc")]
        cur.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'predictions' "
                    "AND column_name IN ('a', 'prediction', 'model_version') ORDER BY column_name")
        assert [r[0] for r in cur.fetchall()] == ["double precision", "text", "bigint"]


def test_a_table_name_is_never_sql() -> None:
    assert quoted("ml.preds") == '"ml"."preds"'
    with pytest.raises(DataSourceInvalid, match="is not a table name"):
        quoted("preds; DROP TABLE x")
