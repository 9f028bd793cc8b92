"""The pipeline's MLflow run as other tasks see it: the contract gates, Feast tasks and stages share.

``mlflow.start_run`` creates (or resumes) one MLflow run per DAG run and pushes where it is as the XCom
``mlflow_run``. Any task can then attach results to it (:func:`log_to_pipeline_run`, a no-op returning
False when the DAG has no experiment) and carries a link to it (:class:`MlflowRunLink`).

Stage tasks never talk to MLflow themselves (importing mlflow costs seconds in every fresh task process):
each pushes its outcome as the XCom ``stage_outcome`` and ``mlflow.end_run`` logs them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperatorLink

from airflow_aiinfra.contract import MLFLOW_START_RUN, XCOM_MLFLOW_RUN, XCOM_STAGE_OUTCOME

log = logging.getLogger(__name__)


class MlflowRunLink(BaseOperatorLink):
    """"MLflow run" button on a task: the run of its DAG run in the MLflow UI (computed on the worker)."""

    name = "MLflow run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        dag = getattr(operator, "dag", None)
        if dag is None or MLFLOW_START_RUN not in dag.task_ids or not hasattr(ti_key, "xcom_pull"):
            return ""
        info = ti_key.xcom_pull(task_ids=MLFLOW_START_RUN, key=XCOM_MLFLOW_RUN) or {}
        return info.get("run_url", "")


def pipeline_run(context: Any) -> dict[str, str] | None:
    """Where this DAG run's MLflow run is (``mlflow.start_run``'s XCom), or None without an experiment."""
    dag, ti = context.get("dag"), context.get("ti")
    if dag is None or ti is None or MLFLOW_START_RUN not in getattr(dag, "task_ids", ()):
        return None
    info = ti.xcom_pull(task_ids=MLFLOW_START_RUN, key=XCOM_MLFLOW_RUN)
    return info or None


def log_to_pipeline_run(
    context: Any,
    *,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    dicts: dict[str, dict[str, Any]] | None = None,
    artifacts: dict[str, str] | None = None,
    step: int = 0,
    http: dict[str, int] | None = None,
) -> bool:
    """Log to this DAG run's MLflow run if it exists; ``dicts`` maps artifact file name → JSON-able dict,
    ``artifacts`` maps artifact sub-directory → local path (file or folder). Returns whether a run was found.

    Raises :class:`MlflowTransientError` / :class:`MlflowPermanentError` when MLflow fails; callers that must
    not fail because of MLflow catch ``airflow_aiinfra.errors.AiinfraError``."""
    info = pipeline_run(context)
    if info is None:
        return False
    from mlflow.entities import Metric, RunTag

    from airflow_aiinfra.hooks.mlflow import hook_for

    run_id = info["run_id"]
    now = int(time.time() * 1000)
    with hook_for(info, http=http).session() as client:
        if tags or metrics:
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
                tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
            )
        for name, data in (dicts or {}).items():
            client.log_dict(run_id, data, name)
        for subdir, path in (artifacts or {}).items():
            if Path(path).is_dir():
                client.log_artifacts(run_id, path, artifact_path=subdir)
            else:
                client.log_artifact(run_id, path, artifact_path=subdir)
    return True


@contextmanager
def stage_outcome(context: Any, *, resumed: bool = False) -> Iterator[None]:
    """Wraps a stage's execute(): pushes ``{state, seconds, try_number}`` (success / failed / skipped) as the
    XCom ``stage_outcome``, which ``mlflow.end_run`` logs on the pipeline's run. Never fails the stage.

    A deferral is not an outcome: nothing is pushed until the task resumes, where ``resumed=True`` counts
    the seconds from the try's start (kept by Airflow across the deferral)."""
    from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

    started = time.monotonic()
    ti = context.get("ti")
    start_date = getattr(ti, "start_date", None) if resumed else None
    state: str | None = "failed"
    try:
        yield
        state = "success"
    except AirflowSkipException:
        state = "skipped"
        raise
    except TaskDeferred:
        state = None
        raise
    finally:
        if ti is not None and state is not None:
            seconds = time.monotonic() - started
            if start_date is not None:
                from datetime import UTC, datetime

                try:
                    seconds = (datetime.now(UTC) - start_date).total_seconds()
                except TypeError:  # a naive start date: keep the resumed part only
                    pass
            try:
                ti.xcom_push(key=XCOM_STAGE_OUTCOME, value={
                    "state": state, "seconds": round(seconds, 3),
                    "try_number": int(getattr(ti, "try_number", 0) or 0)})
            except Exception as exc:  # the stage's own outcome matters more than this record of it
                log.warning("could not record the stage outcome: %s", exc)
