"""Data-source hook: reads the data a quality gate checks, from a path (Parquet/CSV, local or any fsspec URL)
or a SQL query on an Airflow connection, as one pandas DataFrame.

Errors are mapped at this boundary: data that cannot be reached (yet) → :class:`DataSourceUnavailable`
(transient, retried); data reached but unreadable as configured, or a connection that cannot work →
:class:`DataSourceInvalid` (permanent). pandas, fsspec and SQLAlchemy are imported inside methods only.
"""

from __future__ import annotations

import os
import re
from typing import Any

from airflow.sdk import BaseHook

from airflow_aiinfra.errors import DataSourceInvalid, DataSourceUnavailable
from airflow_aiinfra.hooks._connections import get_connection
from airflow_aiinfra.sql import scan


def resolve_path(path: str, base_dir: str | None) -> str:
    """URLs (``s3://``, ``gs://``, ``file://``...) as given; relative local paths against the bundle root."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path) or os.path.isabs(path) or not base_dir:
        return path
    return os.path.join(base_dir, path)


def read_path(path: str, fmt: str) -> Any:
    """A Parquet/CSV file or folder (any fsspec URL) as one DataFrame."""
    import fsspec
    import pandas as pd

    try:
        fs, root = fsspec.core.url_to_fs(path)
        if fs.isdir(root):
            if fmt == "parquet":
                return pd.read_parquet(root, filesystem=fs)
            files = sorted(f for f in fs.find(root) if re.search(r"\.(csv|tsv)(\.\w+)?$", f))
            if not files:
                raise DataSourceUnavailable(f"no CSV files under {path!r} (not written yet?)")
            return pd.concat([_read_csv(fs, f) for f in files], ignore_index=True)
        if not fs.exists(root):
            raise DataSourceUnavailable(f"{path!r} does not exist (not written yet, or wrong path?)")
        if fmt == "parquet":
            with fs.open(root, "rb") as fh:
                return pd.read_parquet(fh)
        return _read_csv(fs, root)
    except DataSourceUnavailable:
        raise
    except (FileNotFoundError, PermissionError, ConnectionError, TimeoutError) as exc:
        raise DataSourceUnavailable(f"cannot read {path!r}: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataSourceUnavailable(f"{path!r} is empty (still being written?): {exc}") from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        # pyarrow's ArrowInvalid is a ValueError: the bytes are there but are not what the spec says
        raise DataSourceInvalid(f"{path!r} cannot be read as {fmt}: {exc}") from exc
    except OSError as exc:  # network filesystems, I/O errors
        raise DataSourceUnavailable(f"cannot read {path!r}: {exc}") from exc


def _read_csv(fs: Any, path: str) -> Any:
    import pandas as pd

    sep = "\t" if ".tsv" in path else ","
    with fs.open(path, "rb", compression="infer") as fh:
        return pd.read_csv(fh, sep=sep)


def sqlalchemy_url(conn: Any) -> str:
    """The SQLAlchemy URL of an Airflow connection (``postgres://`` → ``postgresql+psycopg2://``)."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", conn.get_uri())


class DataSourceHook(BaseHook):
    """A gate's data: files through fsspec (``read_path``), or a SQL query on Airflow connection ``conn_id``
    (``read_query``; any database SQLAlchemy opens: Postgres, MySQL, SQLite, ...)."""

    hook_name = "aiinfra data source"

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    read_path = staticmethod(read_path)

    def connection(self) -> Any:
        if not self.conn_id:
            raise DataSourceInvalid("a query needs an Airflow connection (conn_id)")
        return get_connection(self.conn_id, error=DataSourceInvalid, conn_type="postgres",
                              example="postgresql://user@db-host:5432/warehouse")

    def read_query(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """Run ``query`` (one statement, ``:name`` placeholders bound from ``params`` by the driver) in a
        read-only transaction that is rolled back; the result set as a DataFrame."""
        import pandas as pd
        import sqlalchemy

        scanned = scan(query)
        params = dict(params or {})
        missing = [n for n in scanned.names if n not in params]
        if scanned.problem or missing:
            raise DataSourceInvalid(scanned.problem or f"no value for placeholder(s) {', '.join(missing)}")
        conn = self.connection()
        conn_id = self.conn_id
        try:
            engine = sqlalchemy.create_engine(sqlalchemy_url(conn), pool_pre_ping=False, connect_args=_connect_args(conn))
        except (sqlalchemy.exc.ArgumentError, ImportError) as exc:
            raise DataSourceInvalid(f"connection {conn_id!r} is not a database SQLAlchemy can open: {exc}") from exc
        try:
            with engine.connect() as db:
                _read_only(db, conn_id)
                try:
                    return pd.read_sql_query(sqlalchemy.text(scanned.text), db,
                                             params={n: params[n] for n in scanned.names})
                finally:
                    db.rollback()
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError) as exc:
            raise _mapped(exc, conn_id) from exc
        finally:
            engine.dispose()


def _connect_args(conn: Any) -> dict[str, Any]:
    if conn.conn_type in ("postgres", "postgresql"):  # every transaction of the session read-only too
        return {"connect_timeout": 10, "options": "-c default_transaction_read_only=on"}
    return {}


# The statement that makes the transaction read-only, by SQLAlchemy dialect; run first in the transaction.
READ_ONLY = {
    "postgresql": "SET TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}


def _read_only(db: Any, conn_id: str | None) -> None:
    """Make the connection's transaction read-only, or refuse a database we cannot make read-only."""
    statement = READ_ONLY.get(db.dialect.name)
    if statement is None:
        raise DataSourceInvalid(f"connection {conn_id!r} is a {db.dialect.name} database; gate queries run "
                                f"read-only and only on {', '.join(sorted(READ_ONLY))}")
    db.exec_driver_sql(statement)


def _mapped(exc: Any, conn_id: str | None) -> Exception:
    """A SQLAlchemy error of a gate query as the package's error (by type and driver error code)."""
    import sqlalchemy

    if _refused_write(exc):  # by the read-only transaction: permanent, never retried
        return DataSourceInvalid(f"query on {conn_id!r} tried to write, and gate queries run in a read-only "
                                 f"transaction: {_first_line(exc)}")
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError | sqlalchemy.exc.TimeoutError):
        return DataSourceUnavailable(f"database of connection {conn_id!r} is unreachable: {_first_line(exc)}")
    if isinstance(exc, sqlalchemy.exc.ProgrammingError) and getattr(exc.orig, "pgcode", None) == "42P01":
        # undefined_table: the partition/table may not be loaded yet
        return DataSourceUnavailable(f"table not found on {conn_id!r}: {_first_line(exc)}")
    return DataSourceInvalid(f"query on {conn_id!r} failed: {_first_line(exc)}")


def _refused_write(exc: Any) -> bool:
    """A write refused by the read-only transaction, known by the driver's error code (not its message):
    PostgreSQL 25006 read_only_sql_transaction, SQLite SQLITE_READONLY, MySQL 1792."""
    orig = getattr(exc, "orig", None)
    return (getattr(orig, "pgcode", None) == "25006"
            or str(getattr(orig, "sqlite_errorname", "")).startswith("SQLITE_READONLY")
            or bool(getattr(orig, "args", None)) and orig.args[0] == 1792)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
