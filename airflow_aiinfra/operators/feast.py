"""Feast operators: apply, materialize a data interval, online/offline consistency, training sets.

Every operator takes the store's location as named arguments (see ``_FeastOperator``); the hook
builds Feast objects at run time. A ``FeastPermanentError`` (bad definitions, failed check) fails the task
without retries; anything transient (a store that cannot be reached) is raised as is, so Airflow retries.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_aiinfra import config
from airflow_aiinfra.contract import FeastEntityDef, FeastSourceDef, FeastStorePayload, FeastViewDef
from airflow_aiinfra.errors import FeastPermanentError
from airflow_aiinfra.locations import check_resolved
from airflow_aiinfra.operators.failures import permanent_fails
from airflow_aiinfra.operators.samples import for_output

ONE_US = timedelta(microseconds=1)


class FeastCheckFailed(AirflowFailException):
    """Online and offline values disagree above the alert threshold (not retried)."""


def data_interval(context: Any) -> tuple[datetime, datetime]:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise AirflowFailException("this task needs a data interval; run it from a DAG with a cron schedule")
    return _utc(start), _utc(end)


def _utc(value: Any) -> datetime:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    dt = datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, tzinfo=dt.tzinfo or UTC)
    return dt.astimezone(UTC)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|-" + "-|-".join("-" * w for w in widths) + "-|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


class _FeastOperator(BaseOperator):
    """Base of the Feast operators: where the feature store lives.

    :param project: the Feast project.
    :param repo_path: an existing Feast repo (its feature_store.yaml and Python definitions); None: the
        store is kept under ``[aiinfra] feast_home``/<project> and defined inline.
    :param online_store_type: ``sqlite``, ``redis`` or ``postgres``; None: the repo's own setting.
    :param online_store_path: the SQLite file (sqlite only).
    :param online_store_conn_id: Airflow connection of a Redis or Postgres online store.
    :param offline_store_type: ``file`` or ``postgres``; None: the repo's own setting.
    :param offline_store_conn_id: Airflow connection of a Postgres offline store.
    :param allow_overwrite_newer: replaying an old window may replace newer online values.
    """

    ui_color = "#fdf1e6"

    def __init__(
        self,
        *,
        project: str,
        repo_path: str | None = None,
        online_store_type: str | None = None,
        online_store_path: str | None = None,
        online_store_conn_id: str | None = None,
        offline_store_type: str | None = None,
        offline_store_conn_id: str | None = None,
        allow_overwrite_newer: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.repo_path = repo_path
        self.online_store_type = online_store_type
        self.online_store_path = online_store_path
        self.online_store_conn_id = online_store_conn_id
        self.offline_store_type = offline_store_type
        self.offline_store_conn_id = offline_store_conn_id
        self.allow_overwrite_newer = allow_overwrite_newer

    @property
    def store_settings(self) -> FeastStorePayload:
        return FeastStorePayload(
            project=self.project, repo_path=self.repo_path, online_store_type=self.online_store_type,
            online_store_path=self.online_store_path, online_store_conn_id=self.online_store_conn_id,
            offline_store_type=self.offline_store_type, offline_store_conn_id=self.offline_store_conn_id,
            allow_overwrite_newer=self.allow_overwrite_newer,
        )

    @cached_property
    def hook(self) -> Any:
        from airflow_aiinfra.hooks.feast import FeastHook

        if self.online_store_path:  # the SQLite file Feast writes: an output, so a data location
            with permanent_fails():
                check_resolved(self.online_store_path, None, config.data_roots())
        return FeastHook(self.store_settings)


class FeastApplyOperator(_FeastOperator):
    """Apply the inline definitions (or, with ``repo_path``, the repo's) to the registry; a second apply
    changes nothing.

    :param entities: inline entities (``contract.FeastEntityDef``).
    :param sources: inline data sources by name (``contract.FeastSourceDef``).
    :param feature_views: inline feature views (``contract.FeastViewDef``).
    :param unsourced_features: features no view holds (no source): warned about, not applied.
    """

    template_fields: Sequence[str] = ()

    def __init__(
        self,
        *,
        entities: list[FeastEntityDef] | None = None,
        sources: dict[str, FeastSourceDef] | None = None,
        feature_views: list[FeastViewDef] | None = None,
        unsourced_features: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.entities = list(entities or [])
        self.sources = dict(sources or {})
        self.feature_views = list(feature_views or [])
        self.unsourced_features = list(unsourced_features or [])

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_aiinfra.hooks.feast import Definitions

        definitions = None if self.repo_path else Definitions(self.entities, self.sources, self.feature_views)
        with permanent_fails():
            for source in self.sources.values():
                if source.get("path"):
                    check_resolved(str(source["path"]), None, config.data_roots())
            result = self.hook.apply(definitions)
        for line in result["changed"] + result["infra"]:
            self.log.info("feast apply: %s", line)
        if not result["changed"] and not result["infra"]:
            self.log.info("feast apply: no changes (%d objects already up to date)", result["objects"])
        for name in self.unsourced_features:
            self.log.warning("feature %r has no source, so no feature view holds it: add feature_store.sources", name)
        return result


class FeastMaterializeOperator(_FeastOperator):
    """Materialize exactly this run's data interval [start, end): Airflow owns the position, so a
    backfill replays the same windows and a re-run leaves the online store as it was."""

    template_fields: Sequence[str] = ()

    def __init__(self, *, views: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.views = views

    def execute(self, context: Any) -> dict[str, Any]:
        start, end = data_interval(context)
        now = datetime.now(UTC)
        if end > now:
            raise AirflowFailException(
                f"refusing to materialize up to {end.isoformat()}, which is in the future (now {now.isoformat()}): "
                "rows not yet landed would be missed; run this window once it has ended"
            )
        if start >= end:
            raise AirflowFailException(f"empty data interval [{start}, {end}); the DAG needs a cron schedule")
        with permanent_fails():
            rows = self.hook.materialize(start, end, self.views)
        self.log.info("materialized [%s, %s) into the %s online store:\n%s", start.isoformat(), end.isoformat(),
                      self.hook.online_type, format_table(["feature view", "rows written"], sorted(rows.items())))
        return {"start": start.isoformat(), "end": end.isoformat(), "rows": rows}


class FeastConsistencyOperator(_FeastOperator):
    """Sample entities with rows in this run's interval, read them online, read the same features
    point-in-time offline, report the mismatch rate per feature; warn above ``tolerance``, fail
    (not retried) above ``alert_threshold``."""

    template_fields: Sequence[str] = ()

    def __init__(self, *, views: list[str], tolerance: float, alert_threshold: float, sample_size: int,
                 check_interval_seconds: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.views = views
        self.tolerance = tolerance
        self.alert_threshold = alert_threshold
        self.sample_size = sample_size
        self.check_interval_seconds = check_interval_seconds

    def execute(self, context: Any) -> dict[str, Any]:
        start, end = data_interval(context)
        ci = self.check_interval_seconds
        if ci and int(end.timestamp()) // ci == int(start.timestamp()) // ci:
            raise AirflowSkipException(f"no multiple of check_interval ({ci}s) in ({start}, {end}]: check skipped")
        with permanent_fails():
            report = for_output(self.check(start, end))
        rows = [[f["feature"], f["checked"], f["mismatches"], f"{f['rate']:.4%}", f["status"]]
                for f in report["features"]]
        self.log.info("online/offline consistency for [%s, %s), as of %s:\n%s", start.isoformat(), end.isoformat(),
                      report["as_of"], format_table(["feature", "checked", "mismatches", "rate", "status"], rows))
        failing = [f for f in report["features"] if f["status"] == "fail"]
        for f in report["features"]:
            if f["status"] != "ok":
                self.log.warning("%s: %d of %d sampled entities differ (%.4f%% > %s), e.g. %s", f["feature"],
                                 f["mismatches"], f["checked"], 100 * f["rate"],
                                 "alert_threshold" if f["status"] == "fail" else "tolerance",
                                 f.get("examples", "[data_samples off]")[:2])
        if context.get("ti") is not None:  # the report stays in XCom when the check fails
            context["ti"].xcom_push(key="return_value", value=report)
        if failing:
            names = ", ".join(f"{f['feature']} ({f['rate']:.2%})" for f in failing)
            raise FeastCheckFailed(
                f"online and offline values disagree above alert_threshold {self.alert_threshold:.2%}: {names}"
            )
        return report

    def check(self, start: datetime, end: datetime) -> dict[str, Any]:
        hook = self.hook
        as_of = end - ONE_US
        features: list[dict[str, Any]] = []
        for fv in hook.feature_views(self.views):
            features.extend(self._check_view(hook, fv, start, end, as_of))
        status = "fail" if any(f["status"] == "fail" for f in features) else (
            "warn" if any(f["status"] == "warn" for f in features) else "ok")
        return {"as_of": as_of.isoformat(), "status": status, "features": features,
                "tolerance": self.tolerance, "alert_threshold": self.alert_threshold}

    def _check_view(self, hook: Any, fv: Any, start: datetime, end: datetime, as_of: datetime) -> list[dict]:
        import pandas as pd

        from airflow_aiinfra.features.values import same

        keys = [c.name for c in fv.entity_columns]
        names = [f.name for f in fv.features]
        refs = [f"{fv.name}:{n}" for n in names]
        entities = hook.entities_in_window(fv, start, end)
        if len(entities) > self.sample_size:
            rng = random.Random(f"{fv.name}|{start.isoformat()}|{end.isoformat()}")
            entities = entities.iloc[sorted(rng.sample(range(len(entities)), self.sample_size))]
        rows = [{k: v for k, v in r.items()} for r in entities.astype(object).to_dict("records")]
        if not rows:
            return [self._result(r, 0, 0, []) for r in refs]
        online = hook.online(refs, rows)
        # compare where the online value says it is: at its own event time when that is newer than
        # the window (a later window wrote it), else at the end of the window
        stamps = []
        for i in range(len(rows)):
            ts = max(int(online.get(f"{n}__ts", [0] * len(rows))[i] or 0) for n in names)
            at = datetime.fromtimestamp(ts, UTC) + timedelta(seconds=1) - ONE_US if ts else as_of
            stamps.append(max(at, as_of))
        entity_df = pd.DataFrame(rows)
        for k in keys:
            entity_df[k] = entities[k].to_numpy()
        entity_df["event_timestamp"] = pd.to_datetime(stamps, utc=True)
        offline = hook.historical(entity_df, refs)
        out = []
        for name, ref in zip(names, refs, strict=True):
            bad = []
            for i in range(len(rows)):
                on, off = online[name][i], offline[name].iloc[i]
                if not same(on, off):
                    bad.append({"entity": {k: str(rows[i][k]) for k in keys}, "online": repr(on)[:80],
                                "offline": repr(off)[:80], "at": stamps[i].isoformat()})
            out.append(self._result(ref, len(rows), len(bad), bad[:5]))
        return out

    def _result(self, ref: str, checked: int, mismatches: int, examples: list[dict]) -> dict[str, Any]:
        rate = mismatches / checked if checked else 0.0
        status = "fail" if rate > self.alert_threshold else ("warn" if rate > self.tolerance else "ok")
        return {"feature": ref, "checked": checked, "mismatches": mismatches, "rate": rate, "status": status,
                "examples": examples}


class FeastTrainingSetOperator(_FeastOperator):
    """Build a point-in-time-correct dataset with ``get_historical_features`` and write it where the
    training stages read it; logs rows and a content hash, and records both on the MLflow run."""

    # the query is not a template field: run values reach the database only as bound parameters
    template_fields: Sequence[str] = ("output_path", "entity_path", "entity_query_params")

    def __init__(
        self,
        *,
        output_path: str,
        features: list[str] | None = None,
        feature_service: str | None = None,
        views: list[str] | None = None,
        entity_path: str | None = None,
        entity_query: str | None = None,
        entity_query_params: dict[str, Any] | None = None,
        entity_conn_id: str | None = None,
        entity_timestamp_field: str = "event_timestamp",
        entity_window_seconds: int | None = None,
        base_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        """:param output_path: where the Parquet training set is written.
        :param features: ``view:feature`` references; empty with ``feature_service``: the service's.
        :param views: views whose entities make the rows when no entity source is given.
        :param entity_path: entity rows with timestamps, a Parquet/CSV file; or
        :param entity_query: a SQL query on ``entity_conn_id`` (one statement, run read-only, ``:name``
            placeholders bound from ``entity_query_params``, templated); or neither, with
        :param entity_window_seconds: every entity seen in this window before the data interval's end.
        :param entity_timestamp_field: the entity rows' timestamp column.
        :param base_dir: the bundle root (relative paths resolve against it; its code is never a data location)."""
        super().__init__(**kwargs)
        self.output_path = output_path
        self.features = list(features or [])
        self.feature_service = feature_service
        self.views = list(views or [])
        self.entity_path = entity_path
        self.entity_query = entity_query
        self.entity_query_params = dict(entity_query_params or {})
        self.entity_conn_id = entity_conn_id
        self.entity_timestamp_field = entity_timestamp_field
        self.entity_window_seconds = entity_window_seconds
        self.base_dir = base_dir

    def execute(self, context: Any) -> dict[str, Any]:
        with permanent_fails():
            roots = config.data_roots()
            self.output_path = check_resolved(self.output_path, self.base_dir, roots)
            if self.entity_path is not None:
                self.entity_path = check_resolved(self.entity_path, self.base_dir, roots)
            return self._build(context)

    def entity_df(self, context: Any) -> Any:
        import pandas as pd

        if self.entity_path is None and self.entity_query is None:
            start_end = data_interval(context)
            end = start_end[1]
            start = end - timedelta(seconds=self.entity_window_seconds or 0)
            frames = [self.hook.entities_in_window(fv, start, end) for fv in self._views()]
            df = pd.concat(frames, ignore_index=True).drop_duplicates() if frames else pd.DataFrame()
            df["event_timestamp"] = pd.Timestamp(end - ONE_US)
            return df
        if self.entity_path is not None:
            path = self.entity_path
            try:
                df = pd.read_csv(path) if path.endswith(".csv") else pd.read_parquet(path)
            except FileNotFoundError as exc:
                from airflow_aiinfra.errors import FeastTransientError

                raise FeastTransientError(f"entity source {path!r} does not exist (yet): {exc}") from exc
        else:
            from airflow_aiinfra.hooks.data_source import DataSourceHook

            df = DataSourceHook(self.entity_conn_id).read_query(str(self.entity_query), self.entity_query_params)
        ts = self.entity_timestamp_field
        if ts not in df.columns:
            raise FeastPermanentError(f"entity source has no timestamp column {ts!r}; columns: {list(df.columns)}")
        df = df.rename(columns={ts: "event_timestamp"})
        df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True)
        return df

    def _views(self) -> list[Any]:
        views = {r.split(":", 1)[0] for r in self.features}
        if not views and self.feature_service:
            service = self.hook.store.get_feature_service(self.feature_service)
            views = {p.name for p in service.feature_view_projections}
        return self.hook.feature_views(sorted(views) if views else self.views)

    def _build(self, context: Any) -> dict[str, Any]:
        import os

        from airflow_aiinfra.features.values import frame_hash
        from airflow_aiinfra.operators.pipeline_run import log_to_pipeline_run

        entity_df = self.entity_df(context)
        refs: Any = self.features
        if not refs and self.feature_service:
            refs = self.hook.store.get_feature_service(self.feature_service)
        df = self.hook.historical(entity_df, refs)
        keys = [c for c in entity_df.columns]
        df = df.sort_values(keys, kind="stable").reset_index(drop=True)
        os.makedirs(os.path.dirname(os.path.abspath(self.output_path)), exist_ok=True)
        df.to_parquet(self.output_path, index=False)
        digest = frame_hash(df)
        result = {"path": self.output_path, "rows": len(df), "sha256": digest,
                  "columns": [str(c) for c in df.columns], "entity_rows": len(entity_df)}
        self.log.info("training set: %d rows, sha256 %s → %s", len(df), digest, self.output_path)
        if log_to_pipeline_run(context, tags={"feast.training_set.sha256": digest,
                                              "feast.training_set.path": self.output_path},
                               metrics={"feast.training_set.rows": float(len(df))},
                               dicts={"feast_training_set.json": result}):
            self.log.info("training set recorded on the pipeline's MLflow run")
        return result
