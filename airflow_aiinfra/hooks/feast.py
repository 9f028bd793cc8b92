"""Feast hook: builds ``RepoConfig``/``FeatureStore`` at run time and maps Feast's errors.

Store credentials come from Airflow connections (never from the spec). Every Feast/pandas import is
inside a method: importing this module costs nothing at DAG parse time.

Replay policy (the same on every online store the spec allows; see docs/features.md):
``newest`` (default) — an online value is only replaced by a row with a strictly newer event
timestamp, so replaying an old window never rolls newer values back and replaying the same window
is a no-op; ``overwrite`` (``materialize.allow_overwrite_newer: true``) — the replayed window's rows
replace whatever is online. Redis does ``newest`` natively and ``overwrite`` with ``skip_dedup``;
SQLite and Postgres overwrite natively and get ``newest`` from a BEFORE UPDATE trigger on each
online table that keeps the stored row when the incoming event timestamp is not newer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_aiinfra import config
from airflow_aiinfra.errors import FeastPermanentError, FeastTransientError

log = logging.getLogger(__name__)

ONE_US = timedelta(microseconds=1)
REPLAY_SAFE_ONLINE_STORES = ("sqlite", "redis", "postgres")
_TRANSIENT_NAMES = {
    "ConnectionError", "TimeoutError", "OperationalError", "InterfaceError", "BusyLoadingError",
    "FileNotFoundError", "ConnectionRefusedError", "ConnectionResetError", "PoolTimeout",
}
_PERMANENT_NAMES = {"FeastError", "ValueError", "TypeError", "KeyError", "LookupError", "ValidationError",
                    "AirflowNotFoundException", "NotImplementedError"}
_FEAST_TYPES = {
    "int32": "Int32", "int64": "Int64", "float32": "Float32", "float64": "Float64", "string": "String",
    "bytes": "Bytes", "bool": "Bool", "unix_timestamp": "UnixTimestamp",
}
_VALUE_TYPES = {
    "int32": "INT32", "int64": "INT64", "float32": "FLOAT", "float64": "DOUBLE", "string": "STRING",
    "bytes": "BYTES", "bool": "BOOL", "unix_timestamp": "UNIX_TIMESTAMP",
}


# --- errors ------------------------------------------------------------------------------------------
def classify(exc: BaseException, action: str) -> FeastTransientError | FeastPermanentError:
    """Map any exception to retry (store unreachable, data not there yet) or fail-now (bad definitions)."""
    names = {c.__name__ for c in type(exc).__mro__}
    text = f"{action}: {type(exc).__name__}: {exc}"
    if "no such table" in str(exc) or "does not exist" in str(exc) and "relation" in str(exc):
        return FeastPermanentError(text + " (has features.apply run against this online store?)")
    if names & _TRANSIENT_NAMES:
        return FeastTransientError(text)
    if names & _PERMANENT_NAMES:
        return FeastPermanentError(text)
    return FeastTransientError(text)


@contextlib.contextmanager
def feast_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (FeastTransientError, FeastPermanentError):
        raise
    except Exception as exc:
        raise classify(exc, action) from exc


# --- store configuration (pure, given connection lookups) ----------------------------------------------
def feast_home() -> Path:
    configured = config.get("feast_home", "")
    if configured:
        return Path(configured)
    return Path(os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))) / "feast"


def redis_connection_string(conn: Any) -> str:
    """An Airflow redis connection → Feast's ``host:port,db=N,password=...,ssl=true`` string."""
    extra = conn.extra_dejson or {}
    db = extra.get("db", conn.schema or 0)
    parts = [f"{conn.host or 'localhost'}:{conn.port or 6379}", f"db={int(db or 0)}"]
    if conn.password:
        parts.append(f"password={conn.password}")
    if conn.login:
        parts.append(f"username={conn.login}")
    if str(extra.get("ssl", "")).lower() in ("true", "1"):
        parts.append("ssl=true")
    return ",".join(parts)


def postgres_settings(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson or {}
    out = {"host": conn.host or "localhost", "port": int(conn.port or 5432), "database": conn.schema or "postgres",
           "user": conn.login or "postgres", "password": conn.password or ""}
    out["sslmode"] = extra.get("sslmode", "prefer")  # Feast's own default would demand SSL
    if extra.get("db_schema"):
        out["db_schema"] = extra["db_schema"]
    return out


def repo_config_dict(store: dict[str, Any], get_connection: Callable[[str], Any],
                     home: Path | None = None) -> dict[str, Any]:
    """The keyword arguments of Feast's ``RepoConfig`` for a plan's store payload (no Feast import)."""
    project = store["project"]
    if store.get("repo_path"):
        import yaml

        repo = Path(store["repo_path"])
        try:
            data = yaml.safe_load((repo / "feature_store.yaml").read_text())
        except OSError as exc:
            raise FeastPermanentError(f"repo_path {str(repo)!r} is not a Feast repo: {exc}") from None
        data["repo_path"] = repo
    else:
        base = (home or feast_home()) / project
        data = {"project": project, "provider": "local", "repo_path": base,
                "registry": {"registry_type": "file", "path": str(base / "registry.db"), "cache_ttl_seconds": 60},
                "entity_key_serialization_version": 3, "online_store": {"type": "sqlite"}}
    online = store.get("online_store")
    if online:
        kind = online["type"]
        if kind == "sqlite":
            default = str(data["repo_path"] / "online_store.db") if not store.get("repo_path") else None
            data["online_store"] = {"type": "sqlite", "path": online.get("path") or default
                                    or (data.get("online_store") or {}).get("path", "data/online_store.db")}
        elif kind == "redis":
            data["online_store"] = {"type": "redis",
                                    "connection_string": redis_connection_string(get_connection(online["conn_id"]))}
        elif kind == "postgres":
            data["online_store"] = {"type": "postgres", **postgres_settings(get_connection(online["conn_id"]))}
    online_cfg = data.get("online_store") or {"type": "sqlite"}
    if online_cfg.get("type", "sqlite") not in REPLAY_SAFE_ONLINE_STORES:
        raise FeastPermanentError(
            f"online store type {online_cfg.get('type')!r} cannot guarantee the replay policy; "
            f"use one of {', '.join(REPLAY_SAFE_ONLINE_STORES)} (set feature_store.online_store)"
        )
    if online_cfg.get("type") == "redis":
        # newest-wins is Redis's own rule; overwrite mode skips its timestamp comparison
        online_cfg["skip_dedup"] = bool(store.get("allow_overwrite_newer"))
    data["online_store"] = online_cfg
    offline = store.get("offline_store")
    if offline:
        if offline["type"] == "postgres":
            data["offline_store"] = {"type": "postgres", **postgres_settings(get_connection(offline["conn_id"]))}
        else:
            data["offline_store"] = {"type": "file"}
    data["project"] = project if not store.get("repo_path") else data.get("project", project)
    return data


# --- Feast objects from the plan's definitions ---------------------------------------------------------
def build_objects(defs: dict[str, Any], project: str) -> dict[str, list[Any]]:
    """Entities, data sources and feature views (Feast objects) for inline definitions."""
    import feast
    from feast import types as ft
    from feast.value_type import ValueType

    entities = {
        e["name"]: feast.Entity(name=e["name"], join_keys=list(e["join_keys"]), description=e["description"],
                                value_type=getattr(ValueType, _VALUE_TYPES[e["value_type"]]))
        for e in defs["entities"]
    }
    sources: dict[str, Any] = {}
    for name, s in defs["sources"].items():
        if s.get("path"):
            sources[name] = feast.FileSource(name=name, path=s["path"], timestamp_field=s["timestamp_field"],
                                             created_timestamp_column=s.get("created_timestamp_column") or "")
        else:
            from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
                PostgreSQLSource,
            )

            sources[name] = PostgreSQLSource(name=name, query=s["query"], timestamp_field=s["timestamp_field"],
                                             created_timestamp_column=s.get("created_timestamp_column") or "")
    views = []
    for v in defs["views"]:
        ent = entities[v["entity"]]
        key_type = next(e["value_type"] for e in defs["entities"] if e["name"] == v["entity"])
        schema = [feast.Field(name=k, dtype=getattr(ft, _FEAST_TYPES[key_type])) for k in v["join_keys"]]
        schema += [feast.Field(name=f["name"], dtype=getattr(ft, _FEAST_TYPES[f["dtype"]]),
                               description=f["description"]) for f in v["features"]]
        views.append(feast.FeatureView(name=v["name"], entities=[ent], ttl=timedelta(seconds=v["ttl_seconds"]),
                                       schema=schema, online=v["online"], source=sources[v["source"]],
                                       tags={"aiinfra.managed": "true"}))
    return {"projects": [feast.Project(name=project)], "entities": list(entities.values()),
            "data_sources": list(sources.values()), "feature_views": views}


# --- values ------------------------------------------------------------------------------------------
def normalize(value: Any) -> Any:
    """Online (protobuf) and offline (pandas) values in one comparable form: NaN/None → None,
    numpy scalars → Python, JSON strings → objects."""
    import json
    import math

    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def same(a: Any, b: Any) -> bool:
    import math

    a, b = normalize(a), normalize(b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def frame_hash(df: Any) -> str:
    """A content hash of a dataframe that does not depend on Parquet writer metadata."""
    import pandas as pd

    h = hashlib.sha256(",".join(f"{c}:{t}" for c, t in df.dtypes.astype(str).items()).encode())
    h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


class FeastHook(BaseHook):
    """One Feast feature store described by a plan's store payload (see plan.features.store_payload)."""

    hook_name = "Feast"

    def __init__(self, store: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_payload = store

    # -- clients ---------------------------------------------------------------------------------------
    @cached_property
    def repo_config(self) -> Any:
        from feast.repo_config import RepoConfig

        def conn(conn_id: str) -> Any:
            try:
                return self.get_connection(conn_id)
            except Exception as exc:
                raise FeastPermanentError(f"Airflow connection {conn_id!r} is not defined: {exc}") from exc

        data = repo_config_dict(self.store_payload, conn)
        Path(data["repo_path"]).mkdir(parents=True, exist_ok=True)
        with feast_errors("building the Feast repo config"):
            return RepoConfig(**data)

    @cached_property
    def store(self) -> Any:
        from feast import FeatureStore

        with feast_errors("opening the feature store"):
            return FeatureStore(repo_path=str(self.repo_config.repo_path), config=self.repo_config)

    @property
    def online_type(self) -> str:
        return self.repo_config.online_store.type

    # -- apply -----------------------------------------------------------------------------------------
    def desired_contents(self, definitions: dict[str, Any] | None) -> Any:
        from feast.repo_contents import RepoContents

        with feast_errors("reading the feature definitions"):
            if definitions is None:
                import sys

                from feast.repo_operations import parse_repo

                repo = str(self.repo_config.repo_path)
                if repo not in sys.path:
                    sys.path.append(repo)
                with contextlib.chdir(repo):  # parse_repo names modules relative to the working directory
                    return parse_repo(Path(repo))
            objs = build_objects(definitions, self.repo_config.project)
            return RepoContents(on_demand_feature_views=[], stream_feature_views=[], label_views=[],
                                feature_services=[], permissions=[], **objs)

    def apply(self, definitions: dict[str, Any] | None) -> dict[str, Any]:
        """Declarative apply, like ``feast apply``: plan the diff, write only when something changed."""
        from feast.diff.property_diff import TransitionType

        contents = self.desired_contents(definitions)
        with feast_errors("planning the Feast apply"):
            registry_diff, infra_diff, new_infra = self.store.plan(contents)
        diffs = [d for d in registry_diff.feast_object_diffs if d.name != "__dummy"]  # Feast's internal entity
        changed = [f"{d.transition_type.name.lower()} {d.feast_object_type.name.lower()} {d.name}"
                   for d in diffs if d.transition_type != TransitionType.UNCHANGED]
        infra = [f"{d.transition_type.name.lower()} {d.infra_object_type} {d.name}"
                 for d in infra_diff.infra_object_diffs if d.transition_type != TransitionType.UNCHANGED]
        with feast_errors("applying the Feast definitions"):
            if self.online_type == "sqlite":
                if changed or infra:
                    # what `feast apply` runs after planning; deletes objects no longer defined
                    self.store._apply_diffs(registry_diff, infra_diff, new_infra)
            else:
                # `feast apply`'s path for stores without infra plans; tables are (re)ensured idempotently
                if changed:
                    from feast.repo_operations import extract_objects_for_apply_delete

                    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
                        self.repo_config.project, self.store.registry, contents)
                    self.store.apply(to_apply, objects_to_delete=to_delete, partial=False)
                self.store._get_provider().update_infra(
                    self.repo_config.project, tables_to_delete=[], entities_to_delete=[], partial=True,
                    tables_to_keep=[v for v in self.store.list_feature_views() if v.online],
                    entities_to_keep=self.store.list_entities())
        with feast_errors("setting the replay policy"):
            self.ensure_replay_policy()
        return {"changed": changed, "infra": infra, "objects": len(diffs)}

    # -- replay policy ---------------------------------------------------------------------------------
    def online_tables(self, views: list[Any] | None = None) -> list[str]:
        from feast.infra.online_stores.sqlite import _table_id

        views = views if views is not None else self.store.list_feature_views()
        versioning = self.repo_config.registry.enable_online_feature_view_versioning
        return [_table_id(self.repo_config.project, v, versioning) for v in views if v.online]

    def ensure_replay_policy(self, views: list[Any] | None = None) -> None:
        """Make the online store follow the spec's replay policy (idempotent; Redis needs nothing)."""
        keep_newer = not self.store_payload.get("allow_overwrite_newer")
        tables = self.online_tables(views)
        if self.online_type == "sqlite":
            self._sqlite_policy(tables, keep_newer)
        elif self.online_type == "postgres":
            self._postgres_policy(tables, keep_newer)

    def _sqlite_policy(self, tables: list[str], keep_newer: bool) -> None:
        import sqlite3

        from feast.infra.online_stores.sqlite import SqliteOnlineStore

        con = sqlite3.connect(SqliteOnlineStore._get_db_path(self.repo_config), timeout=30)
        try:
            existing = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            with con:
                for table in tables:
                    trig = f'"{table}__aiinfra_keep_newer"'
                    if keep_newer and table in existing:
                        con.execute(f'CREATE TRIGGER IF NOT EXISTS {trig} BEFORE UPDATE ON "{table}" FOR EACH ROW '
                                    "WHEN NEW.event_ts <= OLD.event_ts BEGIN SELECT RAISE(IGNORE); END")
                    else:
                        con.execute(f"DROP TRIGGER IF EXISTS {trig}")
        finally:
            con.close()

    def _postgres_policy(self, tables: list[str], keep_newer: bool) -> None:
        import psycopg

        c = self.repo_config.online_store
        schema = getattr(c, "db_schema", None) or "public"
        with psycopg.connect(host=c.host, port=c.port, dbname=c.database, user=c.user, password=c.password or None,
                             autocommit=True) as con:
            con.execute(
                f'CREATE OR REPLACE FUNCTION "{schema}".aiinfra_keep_newer() RETURNS trigger LANGUAGE plpgsql AS $$ '
                "BEGIN IF NEW.event_ts <= OLD.event_ts THEN RETURN NULL; END IF; RETURN NEW; END $$"
            )
            for table in tables:
                exists = con.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0]
                if exists is None:
                    continue
                con.execute(f'DROP TRIGGER IF EXISTS aiinfra_keep_newer ON "{schema}"."{table}"')
                if keep_newer:
                    con.execute(f'CREATE TRIGGER aiinfra_keep_newer BEFORE UPDATE ON "{schema}"."{table}" '
                                f'FOR EACH ROW EXECUTE FUNCTION "{schema}".aiinfra_keep_newer()')

    # -- materialize -----------------------------------------------------------------------------------
    def feature_views(self, names: list[str]) -> list[Any]:
        with feast_errors("reading feature views from the registry"):
            if names:
                return [self.store.get_feature_view(n) for n in names]
            return [v for v in self.store.list_feature_views() if v.online]

    @contextlib.contextmanager
    def counting_writes(self) -> Iterator[dict[str, int]]:
        """Count the entity rows Feast hands to the online store, per feature view."""
        online = self.store._get_provider().online_store
        original = online.online_write_batch
        counts: dict[str, int] = {}

        def counted(config: Any, table: Any, data: Any, progress: Any) -> Any:
            counts[table.name] = counts.get(table.name, 0) + len(data)
            return original(config, table, data, progress)

        online.online_write_batch = counted
        try:
            yield counts
        finally:
            del online.online_write_batch

    def materialize(self, start: datetime, end: datetime, views: list[str]) -> dict[str, int]:
        """Write the latest row per entity with event time in [start, end) (Airflow's half-open data
        interval; Feast's own window is closed, hence ``end - 1µs``). Returns rows written per view."""
        fvs = self.feature_views(views)
        with feast_errors("setting the replay policy"):
            self.ensure_replay_policy(fvs)
        with self.counting_writes() as counts, feast_errors(f"materializing [{start}, {end})"):
            self.store.materialize(start, end - ONE_US, feature_views=[v.name for v in fvs])
        return {v.name: counts.get(v.name, 0) for v in fvs}

    # -- reads -----------------------------------------------------------------------------------------
    def entities_in_window(self, fv: Any, start: datetime, end: datetime) -> Any:
        """Join keys of the entities with a row in [start, end) of a view's offline source (pandas)."""
        src = fv.batch_source
        keys = [c.name for c in fv.entity_columns]
        with feast_errors(f"reading entities of {fv.name} from the offline store"):
            job = self.store._get_provider().offline_store.pull_latest_from_table_or_query(
                config=self.repo_config, data_source=src, join_key_columns=keys, feature_name_columns=[],
                timestamp_field=src.timestamp_field, created_timestamp_column=src.created_timestamp_column or None,
                start_date=start, end_date=end - ONE_US,
            )
            df = job.to_df()
        return df[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)

    def online(self, refs: list[str], rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        with feast_errors("reading the online store"):
            return self.store.get_online_features(features=refs, entity_rows=rows).to_dict(
                include_event_timestamps=True)

    def historical(self, entity_df: Any, refs: list[str] | Any) -> Any:
        """Point-in-time values for every entity row, in the entity dataframe's order. Feast's file
        store drops rows that match nothing; they come back here with empty features."""
        rows = entity_df.reset_index(drop=True).assign(aiinfra_row=range(len(entity_df)))
        with feast_errors("reading point-in-time values from the offline store"):
            out = self.store.get_historical_features(entity_df=rows, features=refs).to_df()
        values = [c for c in out.columns if c not in rows.columns]
        merged = rows.merge(out[["aiinfra_row", *values]], on="aiinfra_row", how="left")
        return merged.sort_values("aiinfra_row").drop(columns="aiinfra_row").reset_index(drop=True)
