"""``data_quality``: Great Expectations gates placed between stages.

Expectation names and arguments are checked against a catalog generated from GX
(:mod:`airflow_aiinfra.spec.checks.quality`), so nothing here imports great_expectations.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from airflow_aiinfra.locations import untemplated
from airflow_aiinfra.spec.types import ConnId, Identifier, Name, Strict, TemplatedStr, exactly_one, shown

DataFormat = Literal["parquet", "csv"]
_SUFFIXES: dict[str, DataFormat] = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv", ".csv.bz2": "csv",
    ".csv.zip": "csv", ".csv.xz": "csv", ".tsv": "csv",
}


def infer_format(path: str) -> DataFormat | None:
    """The format a path's extension names, or None (a folder, or no known extension). Linear in the
    path's length (:func:`airflow_aiinfra.locations.untemplated`)."""
    clean = untemplated(path).split("?", 1)[0].lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if clean.endswith(suffix):
            return _SUFFIXES[suffix]
    return None


class DataRef(Strict):
    """The data a gate checks: a file/folder (Parquet, CSV; local or any fsspec URL) or a SQL query.

    Read when the gate task runs, never when the DAG is parsed; ``path`` and ``query`` may use
    ``{{ ds }}`` and the other run values so each run checks its own partition.
    """

    path: TemplatedStr | None = Field(
        None, description="File or folder; relative paths resolve against the bundle root (parent of specs/)."
    )
    format: DataFormat | None = Field(None, description="Inferred from the path's extension; needed for folders.")
    query: str | None = Field(
        None, description="SQL run read-only on `conn_id`; the result is what is checked. One statement, not "
        "templated: run values are `:name` placeholders bound from `params`.")
    conn_id: ConnId | None = Field(None, description="Airflow connection the query runs on (e.g. a Postgres one).")
    params: dict[Identifier, TemplatedStr | int | float | bool] = Field(
        default_factory=dict, description="Values of the query's `:name` placeholders, bound by the database "
        "driver (never put into the SQL text); strings may use {{ ds }} and the other run values.")

    @model_validator(mode="after")
    def _one_kind(self) -> DataRef:
        exactly_one(self, {"path": "a file or folder", "query": "SQL on conn_id"})
        if self.query is not None:
            if not self.conn_id:
                raise ValueError("a 'query' needs 'conn_id' (an Airflow connection; no credentials in specs)")
            if self.format is not None:
                raise ValueError("'format' is for files; remove it from a 'query' source")
        elif self.params:
            raise ValueError("'params' are the values of a 'query''s :name placeholders; a 'path' takes none")
        if self.path is not None:
            if self.conn_id is not None:
                raise ValueError("'conn_id' is for a 'query'; a 'path' is read directly (fsspec URL or local path)")
            if self.format is None:
                self.format = infer_format(self.path)
                if self.format is None:
                    raise ValueError(
                        f"cannot tell the format of {shown(self.path)} from its extension; add format: parquet or csv"
                    )
        return self


Expectations = list[dict[str, dict[str, Any] | None]]


class Gate(Strict):
    """One Great Expectations validation, run as its own task in the ``data_quality`` group."""

    name: Name
    data: DataRef
    expectations: Expectations = Field(
        default_factory=list,
        description="Each entry is `expect_name: {arguments}` as in GX, e.g. "
        "`expect_column_values_to_not_be_null: {column: user_id}`.",
    )
    suite_path: str | None = Field(
        None, description="An existing GX expectation suite (JSON), relative to the bundle root or a URL."
    )
    before: list[str] = Field(default_factory=list, description="Stages that wait for this gate.")
    after: list[str] = Field(
        default_factory=list,
        description="Stages this gate waits for. Without `before`, the stages that depend on them wait for the gate.",
    )
    on_failure: Literal["fail", "warn"] = Field(
        "fail", description="fail: the task fails (not retried) and the stages behind it do not run; "
        "warn: the task succeeds and the failures are logged, in XCom and tagged on the MLflow run.",
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> Gate:
        if not self.expectations and not self.suite_path:
            raise ValueError("a gate needs 'expectations' or 'suite_path'")
        return self

    def expectation_items(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, arguments) pairs in spec order; ``expect_x:`` with no arguments means ``{}``."""
        return [(name, dict(args or {})) for entry in self.expectations for name, args in entry.items()]


class DataQuality(Strict):
    gates: list[Gate] = Field(min_length=1)
