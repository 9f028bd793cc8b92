"""Feast hook: builds ``RepoConfig``/``FeatureStore`` at run time and maps Feast's errors.

The configuration is built by ``features/repo_config.py`` (pure) and the objects by ``features/objects.py``;
this hook owns the store and its operations (apply, replay policy, materialize, reads). Every Feast/pandas
import is inside a method: importing this module costs nothing at DAG parse time.

Errors are mapped at this boundary by a table of exception types (:func:`error_table`): a store that cannot
be reached or is busy, or source data not there yet → :class:`FeastTransientError` (retry); bad definitions,
a store that was never applied → :class:`FeastPermanentError` (fail now).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_aiinfra.contract import FeastEntityDef, FeastSourceDef, FeastStorePayload, FeastViewDef
from airflow_aiinfra.errors import ErrorTable, FeastPermanentError, FeastTransientError, map_errors
from airflow_aiinfra.features.objects import build_objects
from airflow_aiinfra.features.repo_config import repo_config_dict

log = logging.getLogger(__name__)

ONE_US = timedelta(microseconds=1)
# SQLite result codes that mean "busy, try again" (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN); any other
# OperationalError (SQLITE_ERROR: "no such table") means the store was never applied.
_SQLITE_RETRY_CODES = {5, 6, 14}


def _sqlite(exc: BaseException) -> type:
    code = getattr(exc, "sqlite_errorcode", None)
    return FeastTransientError if code in _SQLITE_RETRY_CODES else FeastPermanentError


def error_table() -> ErrorTable:
    """Exception type → package error (the most specific entry by MRO wins). Built on first failure, so the
    store clients it names are imported only then."""
    import sqlite3

    import psycopg
    import redis
    from airflow.sdk.exceptions import AirflowNotFoundException
    from feast.errors import FeastError
    from psycopg_pool import PoolTimeout
    from pydantic import ValidationError

    return {
        ConnectionError: FeastTransientError,
        TimeoutError: FeastTransientError,
        FileNotFoundError: FeastTransientError,  # a source file not landed yet
        sqlite3.OperationalError: _sqlite,
        redis.exceptions.ConnectionError: FeastTransientError,
        redis.exceptions.TimeoutError: FeastTransientError,
        redis.exceptions.BusyLoadingError: FeastTransientError,
        psycopg.OperationalError: FeastTransientError,
        psycopg.InterfaceError: FeastTransientError,
        PoolTimeout: FeastTransientError,
        psycopg.errors.UndefinedTable: FeastPermanentError,
        FeastError: FeastPermanentError,
        ValidationError: FeastPermanentError,
        AirflowNotFoundException: FeastPermanentError,
        ValueError: FeastPermanentError,
        TypeError: FeastPermanentError,
        LookupError: FeastPermanentError,
        NotImplementedError: FeastPermanentError,
    }


def feast_errors(action: str) -> contextlib.AbstractContextManager[None]:
    return map_errors(error_table, action)


@dataclass(frozen=True)
class Definitions:
    """Inline Feast definitions, as planned (see ``contract.FeastApplyPayload``)."""

    entities: list[FeastEntityDef]
    sources: dict[str, FeastSourceDef]
    feature_views: list[FeastViewDef]


class FeastHook(BaseHook):
    """One Feast feature store (:class:`FeastStorePayload`: the Feast operators' store arguments)."""

    hook_name = "Feast"

    def __init__(self, store: FeastStorePayload, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = store

    # -- clients ---------------------------------------------------------------------------------------
    @cached_property
    def repo_config(self) -> Any:
        from airflow.sdk.exceptions import AirflowNotFoundException
        from feast.repo_config import RepoConfig

        def conn(conn_id: str) -> Any:
            try:
                return self.get_connection(conn_id)
            except AirflowNotFoundException as exc:
                raise FeastPermanentError(f"Airflow connection {conn_id!r} is not defined: {exc}") from exc

        data = repo_config_dict(self.settings, conn)
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
    def desired_contents(self, definitions: Definitions | None) -> Any:
        """The objects to apply: the inline definitions, or (None) what the repo's Python files define."""
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
            objs = build_objects(definitions.entities, definitions.sources, definitions.feature_views,
                                 self.repo_config.project)
            return RepoContents(on_demand_feature_views=[], stream_feature_views=[], label_views=[],
                                feature_services=[], permissions=[], **objs)

    def apply(self, definitions: Definitions | None) -> dict[str, Any]:
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
        keep_newer = not self.settings.allow_overwrite_newer
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
