"""Drift and decay checks of one window (``monitor.drift``, ``monitor.decay``); shared parts in monitoring.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_aiinfra import config
from airflow_aiinfra.errors import MlflowPermanentError
from airflow_aiinfra.hooks.mlflow import MlflowHook
from airflow_aiinfra.locations import check_resolved
from airflow_aiinfra.operators.failures import permanent_fails
from airflow_aiinfra.operators.monitoring import (
    MonitoringReportLink,
    _MonitorBase,
    link_version,
    log_result,
    monitoring_run,
    outcome,
    report_url,
    resolve_version,
    window_key,
    window_of,
)


class LabelsNotYet(Exception):
    """The window's labels have not arrived: the decay check is skipped, not failed."""


def batch_output(folder: str, start: datetime, end: datetime) -> Path:
    from airflow_aiinfra.monitoring.scoring import interval_file

    path = interval_file(folder, start, end)
    if not path.is_file():
        raise MlflowPermanentError(f"no batch-inference output for the window {start} → {end} at {path}: the "
                                   "inference DAG has not scored it (or wrote elsewhere)")
    return path


def current_frame(current: str, current_path: str | None, start: datetime, end: datetime,
                  offline_sources: list[dict[str, str]] | None = None) -> Any:
    from airflow_aiinfra.monitoring.datasets import read_frame

    if current == "offline_store":
        from airflow_aiinfra.monitoring.offline import read_window as read_offline

        frame = read_offline(offline_sources or [], start, end)
        if frame.empty:
            raise MlflowPermanentError(f"the feature store's sources have no rows in {start} → {end}")
        return frame
    assert current_path is not None
    if current == "batch_inference":
        return read_frame(batch_output(current_path, start, end))
    if current == "request_log":
        from airflow_aiinfra.monitoring.request_log import read_window

        frame = read_window(current_path, start, end)
        if frame.empty:
            raise MlflowPermanentError(f"the request log {current_path} has no answered requests in {start} → {end}")
        return frame
    return read_frame(current_path)


def pinned_of(hook: MlflowHook, model_uri: str, frame: Any) -> dict[str, str]:
    """The version that scored the window (the output's ``model_version`` column), else what the URI names now."""
    if "model_version" in getattr(frame, "columns", ()) and len(frame):
        versions = sorted({str(v) for v in frame["model_version"].dropna()})
        if len(versions) == 1 and versions[0].isdigit():
            name = model_uri.split(":/", 1)[1].split("@")[0].split("/")[0]
            return resolve_version(hook, f"models:/{name}/{versions[0]}")
    return resolve_version(hook, model_uri)


def reference_frame(hook: MlflowHook, reference_path: str | None, pinned: dict[str, str]) -> tuple[Any, str]:
    from airflow_aiinfra.monitoring.datasets import read_frame, trained_on

    if reference_path:
        return read_frame(reference_path), reference_path
    with hook.session() as client:
        recorded = trained_on(client, pinned["name"], pinned["version"])
    training = [d for d in recorded if d["context"] == "training"] or [d for d in recorded if "train" in d["context"]]
    if not training:
        raise MlflowPermanentError(
            f"version {pinned['version']} of {pinned['name']!r} records no training data (run {pinned['run_id']}); "
            "register it with experiment.datasets.training, or give drift.reference a file")
    return read_frame(training[0]["path"], training[0]["format"]), training[0]["path"]


def run_drift(hook: MlflowHook, *, model_uri: str, experiment: str, dag_id: str, start: datetime, end: datetime,
              reference_path: str | None, current: str, current_path: str | None, features: list[dict[str, Any]],
              prediction: dict[str, Any] | None, drift_share: float,
              offline_sources: list[dict[str, str]] | None = None) -> dict[str, Any]:
    from airflow_aiinfra.monitoring import report as html
    from airflow_aiinfra.monitoring.drift import check_drift
    from airflow_aiinfra.monitoring.scoring import PREDICTION, model_features, predictions_of

    window = current_frame(current, current_path, start, end, offline_sources)
    pinned = pinned_of(hook, model_uri, window)
    reference, ref_source = reference_frame(hook, reference_path, pinned)
    ref_preds = cur_preds = None
    if prediction is not None:
        import mlflow.pyfunc

        with hook.session():
            model = mlflow.pyfunc.load_model(pinned["model_uri"])
        ref_preds = predictions_of(model.predict(reference[model_features(model)]))
        cur_preds = window[PREDICTION] if PREDICTION in window.columns else predictions_of(
            model.predict(window[model_features(model)]))
    try:
        report = check_drift(reference, window, features, drift_share=drift_share, prediction=prediction,
                             reference_predictions=ref_preds, current_predictions=cur_preds)
    except ValueError as exc:
        raise MlflowPermanentError(str(exc)) from None
    key = window_key(start, end)
    run_id, exp_id, _ = monitoring_run(hook, experiment, dag_id, key, "drift", {
        "aiinfra.model_version": f"{pinned['name']}/{pinned['version']}", "aiinfra.model_run_id": pinned["run_id"]})
    data = report.as_dict()
    metrics = {f"drift.{f.name}.{f.test}": f.statistic for f in report.features}
    if report.prediction is not None:
        metrics[f"drift.prediction.{report.prediction.test}"] = report.prediction.statistic
    metrics.update({"drift.share": report.share, "drift.dataset_drift": float(report.dataset_drift),
                    "rows.reference": float(len(reference)), "rows.current": float(len(window))})
    page = html.render(f"Drift of {pinned['name']} v{pinned['version']}", (start.isoformat(), end.isoformat()),
                       pinned["model_uri"], data)
    log_result(hook, run_id, metrics=metrics, report_html=page, result={**data, "reference": ref_source},
               tags={"aiinfra.drift": "drift" if report.dataset_drift else "none",
                     "aiinfra.reference": ref_source})
    link_version(hook, pinned, "drift", run_id)
    drifted = report.drifted
    message = (f"drift of {pinned['name']} v{pinned['version']} in {start} → {end}: "
               f"{len([f for f in report.features if f.drifted])}/{len(report.features)} features drifted "
               f"(share {report.share:.3f}, drift from {drift_share:g})"
               + (", predictions drifted" if report.prediction and report.prediction.drifted else "") + ": "
               + "; ".join(f.describe() + (" (p-value below)" if f.test in ("ks", "chi2") else " (above)")
                           for f in drifted))
    return {"found": report.dataset_drift, "message": message, "report": data, "run_id": run_id,
            "report_url": report_url(hook, exp_id, run_id), "model_version": pinned["version"]}


def data_locations(*paths: str | None) -> None:
    """The rendered paths this check reads are data locations (relative ones resolve in the working directory,
    as they are read); :class:`~airflow_aiinfra.errors.DataLocationRefused` fails the task, not retried."""
    roots = config.data_roots()
    for path in paths:
        if path:
            check_resolved(path, None, roots)


class DriftCheckOperator(_MonitorBase):
    """Feature and prediction drift of this window against the champion's training data."""

    template_fields = ("model_uri", "reference_path", "current_path")
    operator_extra_links = (MonitoringReportLink(),)

    def __init__(self, *, reference_path: str | None = None, current: str = "batch_inference",
                 current_path: str | None = None, offline_sources: list[dict[str, str]] | None = None,
                 features: list[dict[str, Any]] | None = None,
                 prediction: dict[str, Any] | None = None, drift_share: float = 0.5, on_drift: str = "warn",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference_path = reference_path
        self.current = current
        self.current_path = current_path
        self.offline_sources = list(offline_sources or [])
        self.features = list(features or [])
        self.prediction = prediction
        self.drift_share = drift_share
        self.on_drift = on_drift

    def execute(self, context: Any) -> dict[str, Any]:
        start, end = window_of(context)
        data_locations(self.reference_path, self.current_path)
        with permanent_fails():
            result = run_drift(self.hook(), model_uri=self.model_uri, experiment=self.experiment_name,
                               dag_id=context["ti"].dag_id, start=start, end=end, reference_path=self.reference_path,
                               current=self.current, current_path=self.current_path, features=self.features,
                               prediction=self.prediction, drift_share=self.drift_share,
                               offline_sources=self.offline_sources)
        for f in result["report"]["features"] + ([result["report"]["prediction"]] if result["report"]["prediction"] else []):
            self.log.info("%-24s %-13s %12.6g  threshold %-8g %s", f["name"], f["test"], f["statistic"],
                          f["threshold"], "DRIFT" if f["drifted"] else "ok")
        result["status"] = ("failed" if self.on_drift == "fail" else "warn") if result["found"] else "passed"
        context["ti"].xcom_push(key="return_value", value=result)  # before a failure: retrain reads it
        outcome(self.log, result["found"], self.on_drift, result["message"])
        return result


def run_decay(hook: MlflowHook, *, model_uri: str, experiment: str, dag_id: str, start: datetime, end: datetime,
              predictions_path: str, labels_path: str, key: list[str], label: str, task: str,
              floors: list[dict[str, Any]]) -> dict[str, Any]:
    from airflow_aiinfra.monitoring import report as html
    from airflow_aiinfra.monitoring.datasets import read_frame
    from airflow_aiinfra.monitoring.decay import below_floors, join_labels, metrics
    from airflow_aiinfra.monitoring.scoring import PREDICTION

    if not Path(labels_path).is_file():
        raise LabelsNotYet(f"no labels for the window {start} → {end} at {labels_path} (yet): decay is not checked")
    preds = read_frame(batch_output(predictions_path, start, end))
    pinned = pinned_of(hook, model_uri, preds)
    try:
        joined = join_labels(preds, read_frame(labels_path), key, label)
    except ValueError as exc:
        raise MlflowPermanentError(str(exc)) from None
    if joined.empty:
        raise MlflowPermanentError(f"no label in {labels_path} joins a prediction on {key}")
    values = metrics(task, joined[label].to_numpy(), joined[PREDICTION].to_numpy())
    broken = below_floors(values, floors)
    with hook.session() as client:
        registered = dict(client.get_run(pinned["run_id"]).data.metrics) if pinned["run_id"] else {}
    run_id, exp_id, _ = monitoring_run(hook, experiment, dag_id, window_key(start, end), "decay", {
        "aiinfra.model_version": f"{pinned['name']}/{pinned['version']}", "aiinfra.model_run_id": pinned["run_id"]})
    data = {"metrics": values, "registered": {k: v for k, v in registered.items() if k in values},
            "floors": floors, "broken": broken, "rows": int(len(joined)), "labels": labels_path}
    page = html.render(f"Performance of {pinned['name']} v{pinned['version']}", (start.isoformat(), end.isoformat()),
                       pinned["model_uri"], None, data)
    delta = {f"decay.{k}.change": v - registered[k] for k, v in values.items() if k in registered}
    log_result(hook, run_id, metrics={**{f"decay.{k}": v for k, v in values.items()}, **delta,
                                      "rows.labelled": float(len(joined))},
               tags={"aiinfra.decay": "decay" if broken else "none"}, report_html=page, result=data)
    link_version(hook, pinned, "decay", run_id)
    message = (f"performance decay of {pinned['name']} v{pinned['version']} in {start} → {end} on {len(joined)} "
               f"labelled rows: " + "; ".join(broken))
    return {"found": bool(broken), "message": message, "report": data, "run_id": run_id,
            "report_url": report_url(hook, exp_id, run_id), "model_version": pinned["version"]}


class DecayCheckOperator(_MonitorBase):
    """The champion's metrics on this window's labels against the floors (default: the metric gates)."""

    template_fields = ("model_uri", "predictions_path", "labels_path")
    operator_extra_links = (MonitoringReportLink(),)

    def __init__(self, *, predictions_path: str, labels_path: str, key: list[str] | None = None,
                 label_column: str = "label", task: str = "classification", floors: list[dict[str, Any]] | None = None,
                 on_decay: str = "fail", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.predictions_path = predictions_path
        self.labels_path = labels_path
        self.key = list(key or [])
        self.label_column = label_column
        self.task = task
        self.floors = list(floors or [])
        self.on_decay = on_decay

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        start, end = window_of(context)
        data_locations(self.predictions_path, self.labels_path)
        with permanent_fails():
            try:
                result = self._decay(context, start, end)
            except LabelsNotYet as exc:
                raise AirflowSkipException(str(exc)) from None
        for k, v in sorted(result["report"]["metrics"].items()):
            self.log.info("%-10s %.6g (at registration: %s)", k, v, result["report"]["registered"].get(k, "-"))
        result["status"] = ("failed" if self.on_decay == "fail" else "warn") if result["found"] else "passed"
        context["ti"].xcom_push(key="return_value", value=result)  # before a failure: retrain reads it
        outcome(self.log, result["found"], self.on_decay, result["message"])
        return result

    def _decay(self, context: Any, start: datetime, end: datetime) -> dict[str, Any]:
        return run_decay(self.hook(), model_uri=self.model_uri, experiment=self.experiment_name,
                         dag_id=context["ti"].dag_id, start=start, end=end, predictions_path=self.predictions_path,
                         labels_path=self.labels_path, key=self.key, label=self.label_column, task=self.task,
                         floors=self.floors)
