"""MLflow operators: one run per DAG run (start, register, end).

The work is done by plain functions taking the hook and explicit ids (``start_or_resume_run``,
``register_model``, ``finish_run``), so tests drive them against a real server without an Airflow
context; the operators only read the context and map errors (permanent → AirflowFailException).
"""

from __future__ import annotations

import operator
from typing import Any

from airflow.sdk import BaseOperator

from airflow_aiinfra import config
from airflow_aiinfra.contract import MLFLOW_START_RUN, XCOM_MLFLOW_RUN, XCOM_STAGE_OUTCOME, XCOM_TRACKING_URI
from airflow_aiinfra.errors import MlflowPermanentError
from airflow_aiinfra.hooks.mlflow import MlflowHook, hook_for, run_url
from airflow_aiinfra.operators.failures import permanent_fails
from airflow_aiinfra.operators.pipeline_run import MlflowRunLink, pipeline_run

FAILED_STATES = {"failed", "upstream_failed"}
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


# --- start -------------------------------------------------------------------------------------------------
def run_tags(context_ids: dict[str, str], spec: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """Tags of the pipeline run: Airflow ids (found again by dag_id + run_id on retry), the spec's hash."""
    return {
        **extra,
        **{f"airflow.{k}": v for k, v in context_ids.items()},
        "aiinfra.spec_name": spec["spec_name"],
        "aiinfra.spec_file": spec["spec_file"],
        "aiinfra.spec_sha256": spec["spec_sha256"],
        "mlflow.source.name": spec["spec_file"],
        "mlflow.source.type": "JOB",
    }


def check_params(existing: dict[str, str], wanted: dict[str, str], run_id: str) -> None:
    """MLflow params are write-once: the same value again is fine, a changed one is a clear permanent error."""
    changed = {k: (existing[k], v) for k, v in wanted.items() if k in existing and existing[k] != v}
    if changed:
        lines = "; ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in sorted(changed.items()))
        raise MlflowPermanentError(
            f"MLflow run {run_id} of this DAG run already has different values for params ({lines}). The spec "
            "or a stage changed since the run started and MLflow params cannot change: trigger a new DAG run "
            "instead of re-running this one"
        )


def start_or_resume_run(
    hook: MlflowHook,
    *,
    experiment_name: str,
    dag_id: str,
    run_id: str,
    tags: dict[str, str],
    params: dict[str, str],
    spec_text: str,
    spec_file: str,
) -> tuple[str, str, bool]:
    """(mlflow run id, experiment id, resumed). One MLflow run per Airflow DAG run, never a duplicate."""
    from mlflow.entities import Param, RunStatus, RunTag

    experiment_id = hook.ensure_experiment(experiment_name)
    existing = hook.find_run(experiment_id, dag_id, run_id)
    with hook.session() as client:
        if existing is None:
            run = client.create_run(experiment_id, tags=tags, run_name=run_id.replace(":", "-"))
            mlflow_run_id, resumed = run.info.run_id, False
        else:
            mlflow_run_id, resumed = existing.info.run_id, True
            check_params(existing.data.params, {k: v[:6000] for k, v in params.items()}, mlflow_run_id)
            client.update_run(mlflow_run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        items = sorted((k, v[:6000]) for k, v in params.items())  # MLflow's limit for a param value
        for i in range(0, len(items), 100):  # log_batch takes at most 100 params per call
            client.log_batch(mlflow_run_id, params=[Param(k, v) for k, v in items[i:i + 100]])
        client.log_batch(mlflow_run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        client.log_text(mlflow_run_id, spec_text, f"spec/{spec_file.rsplit('/', 1)[-1]}")
    return mlflow_run_id, experiment_id, resumed


class MlflowStartRunOperator(BaseOperator):
    """Creates the DAG run's MLflow run, or resumes it (retry, cleared run): returns the MLflow run id."""

    template_fields = ("experiment_name", "tags")
    ui_color = "#d5f5e3"
    operator_extra_links = (MlflowRunLink(),)

    def __init__(
        self,
        *,
        experiment_name: str,
        tracking_uri: str | None = None,
        conn_id: str | None = None,
        tags: dict[str, str] | None = None,
        params_to_log: dict[str, str] | None = None,
        spec_name: str,
        spec_file: str,
        spec_text: str,
        spec_sha256: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.conn_id = conn_id
        self.tags = tags or {}
        self.params_to_log = params_to_log or {}
        self.spec_name = spec_name
        self.spec_file = spec_file
        self.spec_text = spec_text
        self.spec_sha256 = spec_sha256

    def hook(self) -> MlflowHook:
        if self.conn_id:
            return MlflowHook(self.conn_id, tracking_uri=self.tracking_uri)
        # [aiinfra] mlflow_conn_id when it exists (credentials even with a tracking_uri), else embedded.
        return MlflowHook(config.mlflow_conn_id() or None, tracking_uri=self.tracking_uri, conn_required=False)

    def execute(self, context: Any) -> str:
        ti, dag_run = context["ti"], context["dag_run"]
        ids = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "try_number": str(ti.try_number),
            "logical_date": str(context.get("logical_date") or ""),
            "data_interval_start": str(context.get("data_interval_start") or ""),
            "data_interval_end": str(context.get("data_interval_end") or ""),
            "run_type": str(getattr(dag_run, "run_type", "") or ""),
        }
        spec = {"spec_name": self.spec_name, "spec_file": self.spec_file, "spec_sha256": self.spec_sha256}
        params = {**self.params_to_log, "airflow.data_interval_start": ids["data_interval_start"],
                  "airflow.data_interval_end": ids["data_interval_end"]}
        hook = self.hook()
        with permanent_fails():
            mlflow_run_id, experiment_id, resumed = start_or_resume_run(
                hook, experiment_name=self.experiment_name, dag_id=ti.dag_id, run_id=ti.run_id,
                tags=run_tags(ids, spec, self.tags), params=params, spec_text=self.spec_text,
                spec_file=self.spec_file,
            )
        url = run_url(hook.tracking_uri, experiment_id, mlflow_run_id)
        self.log.info("%s MLflow run %s in experiment %r at %s %s", "resumed" if resumed else "created",
                      mlflow_run_id, self.experiment_name, hook.tracking_uri, url)
        ti.xcom_push(key=XCOM_TRACKING_URI, value=hook.tracking_uri)
        ti.xcom_push(key=XCOM_MLFLOW_RUN, value={
            "run_id": mlflow_run_id, "experiment_id": experiment_id, "tracking_uri": hook.tracking_uri,
            "conn_id": hook.mlflow_conn_id if hook.connection is not None else "", "run_url": url,
        })
        return mlflow_run_id


# --- register ----------------------------------------------------------------------------------------------
def check_gates(metrics: dict[str, float], gates: list[dict[str, Any]], run_id: str) -> list[str]:
    """Messages of the gates that pass; raises MlflowPermanentError naming metric, value and threshold."""
    passed, failed = [], []
    for g in gates:
        name, op, threshold = g["metric"], g["op"], float(g["threshold"])
        if name not in metrics:
            shown = ", ".join(sorted(metrics)) or "none"
            failed.append(f"metric {name!r} was not logged in run {run_id} (logged: {shown}); "
                          f"the gate needs {name} {op} {threshold}")
        elif not _OPS[op](metrics[name], threshold):
            failed.append(f"{name} = {metrics[name]:g}, needs {op} {threshold:g}")
        else:
            passed.append(f"{name} = {metrics[name]:g} {op} {threshold:g}")
    if failed:
        raise MlflowPermanentError("metric gate failed, the model is not registered: " + "; ".join(failed))
    return passed


def pick_model(models: list[Any], model_name: str | None, run_id: str) -> Any:
    """The logged model to register. A retried stage logs its model again: same name → the newest wins.
    Different names with no ``model_name`` in the spec is ambiguous: an error, never a guess."""
    ready = [m for m in models if str(getattr(m.status, "value", m.status)).upper() == "READY"] or models
    names = sorted({m.name for m in ready})
    if model_name is not None:
        ready = [m for m in ready if m.name == model_name]
        if not ready:
            raise MlflowPermanentError(
                f"run {run_id} has no logged model named {model_name!r} (logged: {', '.join(names) or 'none'}); "
                "fix experiment.model_name or log the model with mlflow.<flavor>.log_model(..., name=...)"
            )
    elif not ready:
        raise MlflowPermanentError(
            f"run {run_id} has no logged model: the model stage must call mlflow.<flavor>.log_model(...) "
            "with MLFLOW_RUN_ID set (it is, in every stage)"
        )
    elif len(names) > 1:
        raise MlflowPermanentError(
            f"run {run_id} logged several models ({', '.join(names)}); set experiment.model_name to the one to "
            "register"
        )
    return max(ready, key=lambda m: m.creation_timestamp or 0)


def register_model(
    hook: MlflowHook,
    *,
    run_id: str,
    registered_model: str,
    alias: str,
    model_name: str | None,
    gates: list[dict[str, Any]],
    tags: dict[str, str],
) -> tuple[str, bool, list[str]]:
    """(version, created, gate messages). Registering twice for one run returns the existing version."""
    from mlflow.exceptions import MlflowException

    with hook.session() as client:
        run = client.get_run(run_id)
    passed = check_gates(dict(run.data.metrics), gates, run_id)
    with hook.session() as client:
        existing = client.search_model_versions(f"name = '{registered_model}' and run_id = '{run_id}'")
        if existing:
            version, created = str(min(int(v.version) for v in existing)), False
        else:
            models = client.search_logged_models([run.info.experiment_id],
                                                 filter_string=f"source_run_id = '{run_id}'")
            model = pick_model(list(models), model_name, run_id)
            try:
                client.create_registered_model(registered_model)
            except MlflowException as exc:
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                    raise
            mv = client.create_model_version(
                registered_model, f"models:/{model.model_id}", run_id=run_id, model_id=model.model_id,
                tags={**tags, "aiinfra.logged_model": model.name},
            )
            version, created = str(mv.version), True
        client.set_registered_model_alias(registered_model, alias, version)
        client.set_tag(run_id, "aiinfra.registered_model", f"{registered_model}/{version}")
    return version, created, passed


def record_training_data(hook: MlflowHook, run_id: str, datasets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Log the declared training/validation files as MLflow dataset inputs of the version's run."""
    from pathlib import Path

    from airflow_aiinfra.monitoring.datasets import is_remote, log_datasets

    missing = {c: d["path"] for c, d in datasets.items() if not is_remote(d["path"]) and not Path(d["path"]).is_file()}
    if missing:
        shown = ", ".join(f"{c}: {p}" for c, p in sorted(missing.items()))
        raise MlflowPermanentError(f"the data this version was trained on is not there ({shown}); the stages "
                                   "must write it where experiment.datasets says")
    with hook.session() as client:
        return log_datasets(client, run_id, {c: (d["path"], d.get("format")) for c, d in datasets.items()})


class MlflowRegisterModelOperator(BaseOperator):
    """Checks the metric gates, registers the run's model as a version of ``registered_model`` with ``alias``."""

    template_fields = ("registered_model", "alias", "datasets")
    ui_color = "#d5f5e3"
    operator_extra_links = (MlflowRunLink(),)

    def __init__(
        self,
        *,
        registered_model: str,
        alias: str = "challenger",
        model_name: str | None = None,
        metric_gates: list[dict[str, Any]] | None = None,
        spec_sha256: str = "",
        datasets: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.registered_model = registered_model
        self.alias = alias
        self.model_name = model_name
        self.metric_gates = metric_gates or []
        self.spec_sha256 = spec_sha256
        self.datasets = datasets or {}

    def execute(self, context: Any) -> dict[str, str]:
        from airflow.sdk.exceptions import AirflowFailException

        info = pipeline_run(context)
        if not info:
            raise AirflowFailException(f"no MLflow run: {MLFLOW_START_RUN} did not push one")
        ti = context["ti"]
        tags = {"airflow.dag_id": ti.dag_id, "airflow.run_id": ti.run_id, "mlflow_run_id": info["run_id"],
                "aiinfra.spec_sha256": self.spec_sha256}
        with permanent_fails():
            version, created, passed = register_model(
                hook_for(info), run_id=info["run_id"], registered_model=self.registered_model, alias=self.alias,
                model_name=self.model_name, gates=self.metric_gates, tags=tags,
            )
        with permanent_fails():
            for info_ in record_training_data(hook_for(info), info["run_id"], self.datasets):
                self.log.info("recorded %s data: %s (%s rows, sha256 %s)", info_["context"], info_["path"],
                              info_["rows"], info_["sha256"][:12])
        for line in passed:
            self.log.info("metric gate passed: %s", line)
        self.log.info("%s version %s of %r, alias %r", "registered" if created else "already registered:",
                      version, self.registered_model, self.alias)
        return {"name": self.registered_model, "version": version, "alias": self.alias,
                "model_uri": f"models:/{self.registered_model}/{version}"}


# --- end ---------------------------------------------------------------------------------------------------
def final_status(states: dict[str, str | None], own_task_id: str) -> str:
    """FAILED when any other task of the DAG run failed (or could not run because of it), else FINISHED."""
    bad = sorted(t for t, s in states.items() if t != own_task_id and str(s or "") in FAILED_STATES)
    return "FAILED" if bad else "FINISHED"


def stage_records(outcomes: dict[str, dict[str, Any]]) -> tuple[dict[str, str], list[tuple[str, float, int]]]:
    """Tags and (metric, value, step) points of each stage's outcome, one step per try.

    A stage pushes the outcome of its last try only (Airflow clears a task's XComs when a new try starts),
    and Airflow starts another try only after a failed one: so every earlier try is recorded as not
    succeeded, the last one as it ended, with its duration."""
    tags: dict[str, str] = {}
    points: list[tuple[str, float, int]] = []
    for task_id, outcome in outcomes.items():
        name, last = task_id.rsplit(".", 1)[-1], max(int(outcome.get("try_number", 1)), 1)
        tags[f"stage.{name}.state"] = str(outcome.get("state"))
        tags[f"stage.{name}.try_number"] = str(last)
        points += [(f"stage.{name}.succeeded", 0.0, step) for step in range(1, last)]
        points.append((f"stage.{name}.succeeded", float(outcome.get("state") == "success"), last))
        points.append((f"stage.{name}.duration_s", float(outcome.get("seconds", 0.0)), last))
    return tags, points


def finish_run(hook: MlflowHook, run_id: str, status: str, states: dict[str, str | None],
               outcomes: dict[str, dict[str, Any]] | None = None) -> None:
    import time

    from mlflow.entities import Metric, RunTag

    stage_tags, points = stage_records(outcomes or {})
    tags = [RunTag(f"airflow.task.{t}.state", str(s)) for t, s in sorted(states.items())]
    tags += [RunTag(k, v) for k, v in sorted(stage_tags.items())]
    now = int(time.time() * 1000)
    with hook.session() as client:
        # a cleared and re-run DAG run ends its MLflow run again: steps already on record stay as they are
        present = set(client.get_run(run_id).data.metrics) & {p[0] for p in points}
        logged = {(k, m.step) for k in present for m in client.get_metric_history(run_id, k)}
        metrics = [Metric(k, v, now, step) for k, v, step in points if (k, step) not in logged]
        for i in range(0, len(tags), 1000):
            client.log_batch(run_id, tags=tags[i:i + 1000])
        for i in range(0, len(metrics), 1000):
            client.log_batch(run_id, metrics=metrics[i:i + 1000])
        client.set_terminated(run_id, status=status)


class MlflowEndRunOperator(BaseOperator):
    """Teardown: ends the MLflow run FINISHED, or FAILED when a task of the DAG run failed, and logs every
    task's state and each stage's outcome (duration, try, state; pushed by the stages as the XCom
    ``stage_outcome``). Its own success does not decide the DAG run's state (teardowns are ignored for it),
    so a failed run stays failed.

    :param stage_task_ids: the stage tasks whose outcomes are logged.
    """

    template_fields = ()
    ui_color = "#d5f5e3"
    operator_extra_links = (MlflowRunLink(),)

    def __init__(self, *, stage_task_ids: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage_task_ids = list(stage_task_ids or [])

    def execute(self, context: Any) -> str:
        info = pipeline_run(context)
        if not info:
            self.log.warning("no MLflow run to end: %s did not create one", MLFLOW_START_RUN)
            return "NONE"
        ti = context["ti"]
        states = self.task_states(ti)
        status = final_status(states, ti.task_id)
        outcomes = self.stage_outcomes(ti)
        with permanent_fails():
            finish_run(hook_for(info), info["run_id"], status, {t: s for t, s in states.items() if t != ti.task_id},
                       outcomes)
        self.log.info("MLflow run %s ended %s", info["run_id"], status)
        return status

    def stage_outcomes(self, ti: Any) -> dict[str, dict[str, Any]]:
        if not self.stage_task_ids:
            return {}
        pulled = ti.xcom_pull(task_ids=self.stage_task_ids, key=XCOM_STAGE_OUTCOME)
        return {t: o for t, o in zip(self.stage_task_ids, pulled or [], strict=False) if isinstance(o, dict)}

    @staticmethod
    def task_states(ti: Any) -> dict[str, str | None]:
        result = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id])
        return dict(result.get(ti.run_id, {}))
