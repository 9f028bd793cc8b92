"""``feature_store``: Feast entities, features, sources, stores, materialization, consistency."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from airflow_aiinfra.spec.types import Duration, Fraction, Name, Strict, TemplatedStr, merge_single_key_maps

FeastDtype = Literal["int32", "int64", "float32", "float64", "string", "bytes", "bool", "unix_timestamp"]


class Entity(Strict):
    name: Name
    join_keys: list[str] = Field(min_length=1)
    description: str = ""
    value_type: FeastDtype = Field("int64", description="Type of the join key(s).")


class Feature(Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    entity: str
    dtype: FeastDtype
    ttl: Duration = Field("1d", description="How long a value stays valid for online reads.")
    online: bool = True
    source: str | None = Field(None, description="Key of `sources`; optional when there is only one.")
    description: str = ""


class Source(Strict):
    """Offline data for feature views: a file (Parquet) or a SQL query on a connection."""

    path: TemplatedStr | None = Field(None, description="Parquet file or folder (local path or fsspec URL).")
    query: TemplatedStr | None = None
    conn_id: str | None = Field(None, description="Airflow connection for `query` (Postgres).")
    timestamp_field: str = "event_timestamp"
    created_timestamp_column: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if (self.path is None) == (self.query is None):
            raise ValueError("a source needs exactly one of 'path' or 'query'")
        if self.query is not None and not self.conn_id:
            raise ValueError("a 'query' source needs 'conn_id' (an Airflow connection; no credentials in specs)")
        return self


class OnlineStore(Strict):
    type: Literal["sqlite", "redis", "postgres"] = "sqlite"
    path: str | None = Field(None, description="SQLite file; default data/online_store.db in the repo.")
    conn_id: str | None = Field(None, description="Airflow connection for redis/postgres (holds credentials).")

    @model_validator(mode="after")
    def _needs_conn(self) -> OnlineStore:
        if self.type != "sqlite" and not self.conn_id:
            raise ValueError(f"a {self.type} online store needs 'conn_id' (an Airflow connection)")
        return self


class OfflineStore(Strict):
    type: Literal["file", "postgres"] = "file"
    conn_id: str | None = None


class Consistency(Strict):
    check_interval: Duration = "1h"
    tolerance: Fraction = Field(0.001, description="Mismatch rate above which the check warns.")
    alert_threshold: Fraction = Field(0.01, description="Mismatch rate above which the check fails.")
    sample_size: int = Field(1000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _ordered(self) -> Consistency:
        if self.alert_threshold < self.tolerance:
            raise ValueError(
                f"alert_threshold ({self.alert_threshold}) must be >= tolerance ({self.tolerance}): "
                "the check warns above tolerance and fails above alert_threshold"
            )
        return self


class Materialize(Strict):
    schedule: str = "@hourly"
    start_date: str | None = Field(None, description="Defaults to the spec's start_date.")
    catchup: bool = False
    allow_overwrite_newer: bool = Field(
        False,
        description="Replaying an old window never replaces a newer online value (same on every store) "
        "unless this is true.",
    )


class TrainingSet(Strict):
    entity_source: Source = Field(description="Entity rows with timestamps (a file or a query).")
    output_path: TemplatedStr = Field(description="Where the point-in-time dataset is written.")
    features: list[str] = Field(default_factory=list, description="feature_view:feature refs; all by default.")
    stage_env: str = Field("TRAINING_SET_PATH", description="Env var through which stages find the dataset.")


class FeatureStore(Strict):
    project: str | None = Field(None, pattern=r"^[A-Za-z0-9_]+$", description="Feast project; default: spec name.")
    repo_path: str | None = Field(None, description="An existing Feast repo instead of inline definitions.")
    feature_views: list[str] = Field(default_factory=list, description="With repo_path: views to use.")
    feature_service: str | None = None
    entities: list[Entity] = Field(default_factory=list)
    features: list[Feature] = Field(default_factory=list)
    sources: dict[str, Source] = Field(default_factory=dict)
    online_store: OnlineStore = Field(default_factory=OnlineStore)
    offline_store: OfflineStore = Field(default_factory=OfflineStore)
    consistency: Annotated[
        Consistency,
        BeforeValidator(merge_single_key_maps, json_schema_input_type=Consistency | list[dict[str, Any]]),
    ] = Field(default_factory=Consistency)
    materialize: Materialize = Field(default_factory=Materialize)
    training_set: TrainingSet | None = None
