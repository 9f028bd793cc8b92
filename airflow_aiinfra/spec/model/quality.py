"""``data_quality``: Great Expectations gates placed between stages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from airflow_aiinfra.spec.types import Name, Strict, TemplatedStr


class DataRef(Strict):
    """The data a gate checks: a file/folder (Parquet, CSV; any fsspec URL) or a SQL query."""

    path: TemplatedStr | None = None
    format: Literal["parquet", "csv"] | None = Field(None, description="Inferred from the path's extension.")
    query: TemplatedStr | None = None
    conn_id: str | None = Field(None, description="Airflow connection the query runs on.")

    @model_validator(mode="after")
    def _one_kind(self) -> DataRef:
        if (self.path is None) == (self.query is None):
            raise ValueError("give exactly one of 'path' or 'query'")
        if self.query is not None and not self.conn_id:
            raise ValueError("a 'query' needs 'conn_id' (an Airflow connection; no credentials in specs)")
        return self


class Gate(Strict):
    name: Name
    data: DataRef
    expectations: list[dict[str, dict[str, Any] | None]] = Field(
        default_factory=list,
        description="Each entry is `expect_name: {arguments}` as in GX (e.g. expect_column_values_to_not_be_null).",
    )
    suite_path: str | None = Field(None, description="Or an existing GX expectation suite (JSON).")
    before: list[str] = Field(default_factory=list, description="Stages that wait for this gate.")
    after: list[str] = Field(default_factory=list, description="Stages this gate waits for.")
    on_failure: Literal["fail", "warn"] = "fail"

    @model_validator(mode="after")
    def _something_to_check(self) -> Gate:
        if not self.expectations and not self.suite_path:
            raise ValueError("a gate needs 'expectations' or 'suite_path'")
        return self


class DataQuality(Strict):
    gates: list[Gate] = Field(min_length=1)
