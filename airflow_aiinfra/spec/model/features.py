"""``feature_store``: Feast entities, features, sources, stores, materialization, consistency.

Parsing never imports feast: dtypes, ttls and references are checked here and in
``spec.checks._features``; the Feast objects are built at run time by ``hooks.feast``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from airflow_aiinfra.spec.types import (
    ConnId,
    Duration,
    Fraction,
    Identifier,
    Name,
    Strict,
    TemplatedStr,
    _err,
    exactly_one,
    format_duration,
    merge_single_key_maps,
)

FEAST_DTYPES = ("int32", "int64", "float32", "float64", "string", "bytes", "bool", "unix_timestamp")
# What people write instead of a Feast type name, and what they mean.
_DTYPE_ALIASES = {
    "int": "int64", "integer": "int64", "long": "int64", "bigint": "int64", "float": "float64",
    "double": "float64", "real": "float32", "str": "string", "text": "string", "varchar": "string",
    "boolean": "bool", "binary": "bytes", "timestamp": "unix_timestamp", "datetime": "unix_timestamp",
}


def _dtype(value: Any) -> Any:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in FEAST_DTYPES:
            return low
        fix = _DTYPE_ALIASES.get(low)
        if fix:
            raise _err("dtype", "{value!r} is not a Feast type; did you mean {fix!r}? (one of {all})",
                       value=value, fix=fix, all=", ".join(FEAST_DTYPES))
    raise _err("dtype", "{value!r} is not a Feast type; use one of {all}", value=value, all=", ".join(FEAST_DTYPES))


FeastDtype = Annotated[
    Literal["int32", "int64", "float32", "float64", "string", "bytes", "bool", "unix_timestamp"],
    BeforeValidator(_dtype, json_schema_input_type=str),
]


class Entity(Strict):
    name: Name
    join_keys: list[Identifier] = Field(min_length=1)
    description: str = ""
    value_type: FeastDtype = Field("int64", description="Type of the join key(s).")


class Feature(Strict):
    """One feature. Feast keeps ttl/online per feature view: features that share entity, source,
    ttl and online flag become one view (see docs/features.md), unless ``view`` names it."""

    name: Identifier
    entity: str
    dtype: FeastDtype
    ttl: Duration = Field("1d", description="How long a value stays valid for online reads.")
    online: bool = True
    source: str | None = Field(None, description="Key of `sources`; optional when there is only one.")
    view: Identifier | None = Field(None, description="Feature view name; default derived from entity and source.")
    description: str = ""


class Source(Strict):
    """Offline data for feature views: a file (Parquet) or a SQL query on a connection."""

    path: TemplatedStr | None = Field(None, description="Parquet file or folder (local path or fsspec URL).")
    query: str | None = Field(None, description="SQL: one statement, not templated; in training_set.entity_source "
                              "run values are `:name` placeholders bound from `params` (read-only, like a gate).")
    conn_id: ConnId | None = Field(None, description="Airflow connection for `query` (Postgres).")
    params: dict[Identifier, TemplatedStr | int | float | bool] = Field(
        default_factory=dict, description="training_set.entity_source only: values of the query's placeholders.")
    timestamp_field: Identifier = "event_timestamp"
    created_timestamp_column: Identifier | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        exactly_one(self, {"path": "", "query": ""})
        if self.query is not None and not self.conn_id:
            raise ValueError("a 'query' source needs 'conn_id' (an Airflow connection; no credentials in specs)")
        return self


class OnlineStore(Strict):
    type: Literal["sqlite", "redis", "postgres"] = "sqlite"
    path: str | None = Field(None, description="SQLite file; default <[aiinfra] feast_home>/<project>/online_store.db "
                             "(inline) or the repo's own setting (repo_path).")
    conn_id: ConnId | None = Field(None, description="Airflow connection for redis/postgres (holds credentials).")

    @model_validator(mode="after")
    def _needs_conn(self) -> OnlineStore:
        if self.type != "sqlite" and not self.conn_id:
            raise ValueError(f"a {self.type} online store needs 'conn_id' (an Airflow connection)")
        if self.type != "sqlite" and self.path:
            raise ValueError(f"'path' is for the sqlite online store; a {self.type} store is reached via 'conn_id'")
        return self


class OfflineStore(Strict):
    type: Literal["file", "postgres"] = "file"
    conn_id: ConnId | None = None

    @model_validator(mode="after")
    def _needs_conn(self) -> OfflineStore:
        if self.type == "postgres" and not self.conn_id:
            raise ValueError("a postgres offline store needs 'conn_id' (an Airflow connection)")
        return self


class Consistency(Strict):
    check_interval: Duration = Field("1h", description="Run the check on materialization runs whose data "
                                     "interval reaches a multiple of this (skipped otherwise).")
    tolerance: Fraction = Field(0.001, description="Mismatch rate above which the check warns.")
    alert_threshold: Fraction = Field(0.01, description="Mismatch rate above which the check fails.")
    sample_size: int = Field(1000, ge=1, le=1_000_000, description="Entities sampled per feature view.")

    @model_validator(mode="after")
    def _ordered(self) -> Consistency:
        if self.alert_threshold < self.tolerance:
            raise ValueError(
                f"alert_threshold ({self.alert_threshold}) must be >= tolerance ({self.tolerance}): "
                "the check warns above tolerance and fails above alert_threshold"
            )
        return self


class Materialize(Strict):
    schedule: str = Field("@hourly", description="Cron or preset; each run materializes its data interval.")
    start_date: str | None = Field(None, description="Defaults to the spec's start_date.")
    catchup: bool = False
    allow_overwrite_newer: bool = Field(
        False,
        description="Replaying an old window never replaces a newer online value (same on every store) "
        "unless this is true.",
    )

    @model_validator(mode="after")
    def _date(self) -> Materialize:
        if self.start_date is not None:
            from datetime import datetime

            try:
                datetime.fromisoformat(self.start_date)
            except ValueError:
                raise ValueError(f"start_date {self.start_date!r} is not an ISO date; write it like '2024-01-01'") from None
        return self


class TrainingSet(Strict):
    """A point-in-time-correct dataset for the training stages (``get_historical_features``)."""

    entity_source: Source | None = Field(None, description="Entity rows with timestamps (a file or a query).")
    entity_window: Duration | None = Field(
        None, description="Instead of entity_source: every entity seen in this window before the run's "
        "data_interval_end, at that timestamp.")
    output_path: TemplatedStr = Field(description="Where the point-in-time dataset is written (Parquet).")
    features: list[str] = Field(default_factory=list, description="feature_view:feature refs; all by default.")
    stage_env: Identifier = Field("TRAINING_SET_PATH", description="Env var through which stages find the dataset.")

    @model_validator(mode="after")
    def _one_entity_kind(self) -> TrainingSet:
        exactly_one(self, {"entity_source": "file or query", "entity_window": ""})
        return self


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

    def source_of(self, feature: Feature) -> str | None:
        """The source key a feature reads from: its own, or the only one declared."""
        if feature.source is not None:
            return feature.source
        return next(iter(self.sources)) if len(self.sources) == 1 else None

    def view_groups(self) -> list[ViewGroup]:
        """Inline features grouped into Feast feature views (pure; see docs/features.md).

        Features sharing (entity, source, ttl, online) form one view named ``<entity>_<source>``;
        when several groups would get that name, each gets ``_<ttl>`` and, if offline-only,
        ``_offline`` appended. ``feature.view`` names a view explicitly (its features must agree
        on entity, source, ttl and online; checked by spec.checks). Features without a source
        form no view."""
        groups: dict[tuple, list[Feature]] = {}
        for feat in self.features:
            src = self.source_of(feat)
            if src is None:
                continue
            key = (feat.view, feat.entity, src, feat.ttl, feat.online)
            groups.setdefault(key, []).append(feat)
        base_count: dict[str, int] = {}
        for view, entity, src, _, _ in groups:
            if view is None:
                base_count[f"{entity}_{src}"] = base_count.get(f"{entity}_{src}", 0) + 1
        out = []
        for (view, entity, src, ttl, online), feats in groups.items():
            name = view or f"{entity}_{src}"
            if view is None and base_count[name] > 1:
                name += f"_{format_duration(ttl)}" + ("" if online else "_offline")
            out.append(ViewGroup(name, entity, src, ttl, online, tuple(f.name for f in feats)))
        return out


@dataclass(frozen=True)
class ViewGroup:
    name: str
    entity: str
    source: str
    ttl: timedelta
    online: bool
    features: tuple[str, ...]
