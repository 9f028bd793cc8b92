"""Publish an interval's batch-inference output into a PostgreSQL table (``batch_inference.output_table``).

The scoring stage writes one file per interval (it runs in a pod without Airflow connections); this task
loads that file into the table in **one transaction**: create the table if missing (columns from the file's
schema, plus ``window_start``/``window_end``), delete the interval's rows, insert the file's rows. A rerun
replaces the interval's partition, never appends twice; readers see the old rows or the new, never a mix.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator

from airflow_aiinfra.errors import DataSourceInvalid
from airflow_aiinfra.operators.failures import permanent_fails

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_PG_TYPES = {"int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE PRECISION", "float": "REAL", "bool": "BOOLEAN"}
BATCH_ROWS = 10_000


def quoted(table: str) -> str:
    if not _IDENT.match(table):
        raise DataSourceInvalid(f"{table!r} is not a table name (schema.table, letters, digits, '_')")
    return ".".join(f'"{part}"' for part in table.split("."))


def pg_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return pg_type(arrow_type.value_type)
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    return _PG_TYPES.get(str(arrow_type), "TEXT")


def publish_interval(conn: Any, path: str, table: str, start: datetime, end: datetime) -> int:
    """Replace the rows of [start, end) in ``table`` with the file's rows, in one transaction; returns the rows."""
    import pyarrow.parquet as pq
    from psycopg2.extras import execute_values

    name = quoted(table)
    pf = pq.ParquetFile(path)
    columns = [(f.name, pg_type(f.type)) for f in pf.schema_arrow]
    cols_sql = ", ".join(f'"{c}" {t}' for c, t in columns)
    names_sql = ", ".join(f'"{c}"' for c, _ in columns)
    rows = 0
    with conn, conn.cursor() as cur:  # one transaction: committed at the end, rolled back on any error
        cur.execute(f"CREATE TABLE IF NOT EXISTS {name} (window_start TIMESTAMPTZ NOT NULL, "
                    f"window_end TIMESTAMPTZ NOT NULL, {cols_sql})")
        cur.execute(f"DELETE FROM {name} WHERE window_start = %s AND window_end = %s", (start, end))
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            data = batch.to_pydict()
            values = [(start, end, *row) for row in zip(*(data[c] for c, _ in columns), strict=True)]
            execute_values(cur, f"INSERT INTO {name} (window_start, window_end, {names_sql}) VALUES %s", values,
                           page_size=BATCH_ROWS)
            rows += len(values)
    return rows


class PublishTableOperator(BaseOperator):
    """Loads this interval's output file into ``table`` on the Postgres connection ``conn_id`` (idempotent)."""

    template_fields = ("output_dir", "table")
    ui_color = "#fdebd0"

    def __init__(self, *, output_dir: str, table: str, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_dir = output_dir
        self.table = table
        self.conn_id = conn_id

    def execute(self, context: Any) -> int:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from airflow_aiinfra.monitoring.scoring import interval_file
        from airflow_aiinfra.operators.monitoring import window_of

        start, end = window_of(context)
        path = interval_file(self.output_dir, start, end)
        with permanent_fails():
            if not path.is_file():
                raise DataSourceInvalid(f"no output for {start} → {end} at {path}: inference.score did not write it")
            rows = publish_interval(PostgresHook(postgres_conn_id=self.conn_id).get_conn(), str(path), self.table,
                                    start, end)
        self.log.info("published %d rows of %s → %s into %s", rows, start, end, self.table)
        return rows
