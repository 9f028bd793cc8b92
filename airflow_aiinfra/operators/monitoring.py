"""Batch inference's model pin, what the checks share, and the retrain request (the checks: ``drift.py``).

The work is in plain functions over an :class:`MlflowHook` and explicit windows (``pin_model``,
``run_drift``, ``run_decay``, ``retrain_decision``), so tests drive them against a real MLflow store without
an Airflow context; the operators read the context, log, push XCom and map outcomes to task states
(the gates' convention: ``warn`` succeeds and records, ``fail`` fails naming what broke).

Every check of a window goes to one MLflow run in the experiment ``<experiment>-monitoring`` (found again by
its DAG id, window and kind, so a rerun updates it), tagged with the champion's version and training run,
with the report as ``monitoring/report.html``; the task's "Monitoring report" link points at it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_aiinfra import config
from airflow_aiinfra.contract import EVENT_WINDOW_END, EVENT_WINDOW_START
from airflow_aiinfra.errors import MlflowPermanentError
from airflow_aiinfra.hooks.mlflow import MlflowHook, run_url
from airflow_aiinfra.operators.failures import permanent_fails

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))$")
REPORT = "monitoring/report.html"


class MonitoringReportLink(BaseOperatorLink):
    """"Monitoring report" button: the window's monitoring run (its HTML report) in the MLflow UI."""

    name = "Monitoring report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not hasattr(ti_key, "xcom_pull"):
            return ""
        result = ti_key.xcom_pull(task_ids=operator.task_id) or {}
        return result.get("report_url", "") if isinstance(result, dict) else ""


def make_hook(conn_id: str | None, tracking_uri: str | None) -> MlflowHook:
    if conn_id:
        return MlflowHook(conn_id, tracking_uri=tracking_uri)
    return MlflowHook(config.mlflow_conn_id() or None, tracking_uri=tracking_uri, conn_required=False)


def window_of(context: Any) -> tuple[datetime, datetime]:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise MlflowPermanentError("this run has no data interval (an asset-triggered run without a window in "
                                   "its event): monitoring needs one")
    return start, end


def window_key(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()}/{end.isoformat()}"


def monitoring_run(hook: MlflowHook, experiment: str, dag_id: str, window: str, kind: str,
                   tags: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """(run id, experiment id, its tags): the run of this DAG, window and kind, created on first use."""
    exp_id = hook.ensure_experiment(f"{experiment}-monitoring")
    esc = lambda v: v.replace("\\", "\\\\").replace("'", "\\'")  # noqa: E731
    flt = (f"tags.`airflow.dag_id` = '{esc(dag_id)}' and tags.`aiinfra.window` = '{esc(window)}' and "
           f"tags.`aiinfra.kind` = '{kind}'")
    with hook.session() as client:
        runs = client.search_runs([exp_id], filter_string=flt, order_by=["attributes.start_time ASC"])
        if runs:
            return runs[0].info.run_id, exp_id, dict(runs[0].data.tags)
        all_tags = {**tags, "airflow.dag_id": dag_id, "aiinfra.window": window, "aiinfra.kind": kind}
        run = client.create_run(exp_id, tags=all_tags, run_name=f"{kind} {window.replace(':', '')}")
        return run.info.run_id, exp_id, all_tags


def resolve_version(hook: MlflowHook, model_uri: str) -> dict[str, str]:
    """{name, version, run_id, model_uri (concrete)} of what ``model_uri`` names now."""
    m = _MODEL_URI.match(model_uri)
    if m is None:
        raise MlflowPermanentError(f"{model_uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
    with hook.session() as client:
        if m["alias"]:
            mv = client.get_model_version_by_alias(m["name"], m["alias"])
        else:
            mv = client.get_model_version(m["name"], m["version"])
    return {"name": m["name"], "version": str(mv.version), "run_id": mv.run_id or "",
            "model_uri": f"models:/{m['name']}/{mv.version}"}


def pin_model(hook: MlflowHook, *, model_uri: str, experiment: str, dag_id: str, window: str) -> dict[str, str]:
    """The version ``model_uri`` named when this window was first scored; resolved and recorded on first use,
    so a rerun of the window (or a retry) scores with the same version even after the alias moved."""
    run_id, _, tags = monitoring_run(hook, experiment, dag_id, window, "inference", {"aiinfra.model_uri": model_uri})
    if "aiinfra.model_version" in tags:
        name, version = tags["aiinfra.model_version"].rsplit("/", 1)
        pinned = {"name": name, "version": version, "run_id": tags.get("aiinfra.model_run_id", ""),
                  "model_uri": f"models:/{name}/{version}"}
    else:
        pinned = resolve_version(hook, model_uri)
        with hook.session() as client:
            client.set_tag(run_id, "aiinfra.model_version", f"{pinned['name']}/{pinned['version']}")
            client.set_tag(run_id, "aiinfra.model_run_id", pinned["run_id"])
            client.set_terminated(run_id, "FINISHED")  # a record of the pin, not a run that goes on
    return {**pinned, "inference_run_id": run_id, "tracking_uri": hook.tracking_uri}


class _MonitorBase(BaseOperator):
    template_fields: tuple[str, ...] = ("model_uri",)
    ui_color = "#fdebd0"

    def __init__(self, *, spec_name: str, model_uri: str, experiment_name: str, tracking_uri: str | None = None,
                 conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_name = spec_name
        self.model_uri = model_uri
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.conn_id = conn_id

    def hook(self) -> MlflowHook:
        return make_hook(self.conn_id, self.tracking_uri)


class ResolveModelOperator(_MonitorBase):
    """Pins ``model_uri`` (an alias) to a version for this data interval; returns {model_uri, version, ...}."""

    def execute(self, context: Any) -> dict[str, str]:
        start, end = window_of(context)
        with permanent_fails():
            pinned = pin_model(self.hook(), model_uri=self.model_uri, experiment=self.experiment_name,
                               dag_id=context["ti"].dag_id, window=window_key(start, end))
        self.log.info("window %s → %s scores with %s (training run %s)", start, end, pinned["model_uri"],
                      pinned["run_id"])
        return pinned


def log_result(hook: MlflowHook, run_id: str, *, metrics: dict[str, float], tags: dict[str, str],
               report_html: str, result: dict[str, Any]) -> None:
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    with hook.session() as client:
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                         tags=[RunTag(k, str(v)) for k, v in tags.items()])
        client.log_text(run_id, report_html, REPORT)
        client.log_dict(run_id, result, "monitoring/result.json")
        client.set_terminated(run_id, "FINISHED")


def report_url(hook: MlflowHook, experiment_id: str, run_id: str) -> str:
    url = run_url(hook.tracking_uri, experiment_id, run_id)
    return f"{url}/artifacts/{REPORT}" if url else ""


def link_version(hook: MlflowHook, pinned: dict[str, str], kind: str, run_id: str) -> None:
    """The champion's version points at its latest monitoring run of this kind."""
    with hook.session() as client:
        client.set_model_version_tag(pinned["name"], pinned["version"], f"aiinfra.monitoring.{kind}_run", run_id)


def outcome(log: Any, found: bool, on: str, message: str) -> str:
    """The gates' convention: nothing found → passed; found and ``warn`` → warn (task succeeds); else fail."""
    from airflow.sdk.exceptions import AirflowFailException

    if not found:
        return "passed"
    if on == "fail":
        raise AirflowFailException(message)
    log.warning("MONITORING WARNING: %s (warn: the task succeeds, the result is recorded)", message)
    return "warn"


def retrain_decision(found: dict[str, bool], retrain_on: list[str], window_end: datetime,
                     last_request_end: datetime | None, cooldown: timedelta) -> tuple[bool, str]:
    """(emit?, why). Emits when a check named in ``retrain_on`` found something and the last request's
    window ended at least ``cooldown`` before this one's (windows, not wall clock: a backfill of ten bad
    days asks once per cool-down too)."""
    reasons = [k for k in retrain_on if found.get(k)]
    if not reasons:
        return False, f"nothing of {retrain_on} was found"
    if last_request_end is not None and window_end - last_request_end < cooldown:
        return False, (f"{' and '.join(reasons)} found, but a retrain was requested for the window ending "
                       f"{last_request_end.isoformat()} (cool-down {cooldown})")
    return True, f"{' and '.join(reasons)} found"


class RetrainRequestOperator(BaseOperator):
    """Emits the retrain Asset event (outlet) with this window in its extra, or skips (no event)."""

    ui_color = "#fadbd8"

    def __init__(self, *, retrain_on: list[str], check_task_ids: dict[str, str], cooldown_seconds: int = 86400,
                 asset_uri: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retrain_on = list(retrain_on)
        self.check_task_ids = dict(check_task_ids)
        self.cooldown_seconds = cooldown_seconds
        self.asset_uri = asset_uri

    def execute(self, context: Any) -> dict[str, Any]:
        import pendulum
        from airflow.sdk.exceptions import AirflowSkipException

        start, end = window_of(context)
        ti = context["ti"]
        found = {}
        for kind, task_id in self.check_task_ids.items():
            result = ti.xcom_pull(task_ids=task_id) or {}
            found[kind] = bool(result.get("found")) if isinstance(result, dict) else False
        asset = next(a for a in self.outlets if getattr(a, "uri", None) == self.asset_uri)
        last_end = None
        events = context["inlet_events"][asset]
        for event in events:
            extra = event.extra or {}
            if EVENT_WINDOW_END in extra:
                e = pendulum.parse(str(extra[EVENT_WINDOW_END]))
                last_end = e if last_end is None or e > last_end else last_end
        emit, why = retrain_decision(found, self.retrain_on, end, last_end, timedelta(seconds=self.cooldown_seconds))
        if not emit:
            raise AirflowSkipException(f"no retrain request: {why}")
        extra = {EVENT_WINDOW_START: start.isoformat(), EVENT_WINDOW_END: end.isoformat(), "reason": why,
                 "dag_id": ti.dag_id, "run_id": ti.run_id}
        context["outlet_events"][asset].extra = extra
        self.log.info("retrain requested (%s): event on %s with %s", why, self.asset_uri, extra)
        return extra


