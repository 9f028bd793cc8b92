"""experiment → MLflow start/end/register tasks around the pipeline, and MLflow env in every stage.

Group ``mlflow``:
- ``mlflow.start_run`` before every root task: creates (or resumes) this DAG run's MLflow run and returns its id;
- every pod gets ``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``, ``MLFLOW_RUN_ID`` (templated from the start
  task's XCom) and, when named, the credentials Secret (envFrom), so stage code logs with plain ``mlflow`` calls;
- ``mlflow.register_model`` after ``model_stage`` and every task downstream of it (metric gates first), so the
  alias ``challenger`` never names a model whose evaluation stages did not all succeed; the rollout follows it;
- ``mlflow.end_run`` after every leaf: a teardown (all_done) that sets FINISHED or FAILED. Teardowns do not count
  for the DAG run's state, so a failed pipeline stays failed.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from airflow_aiinfra.contract import (
    MLFLOW_END_RUN,
    MLFLOW_REGISTER_MODEL,
    MLFLOW_RUN_ID_TEMPLATE,
    MLFLOW_START_RUN,
    MLFLOW_TRACKING_URI_TEMPLATE,
    DatasetFileDef,
    MetricGateDef,
    MlflowEndRunPayload,
    MlflowRegisterModelPayload,
    MlflowStartRunPayload,
    Payload,
    TaskKind,
    stage_task_id,
)
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import PodPlan, SecretPlan, TaskPlan

# Stage code talks to MLflow with the client's own retries: bound them (its defaults retry for minutes).
STAGE_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}


def experiment_name(ctx: PlanContext) -> str:
    ex = ctx.spec.experiment
    return (ex.name if ex and ex.name else None) or ctx.spec.name


def stage_params(pod: PodPlan, name: str) -> dict[str, str]:
    """What a stage ran, with what: logged as MLflow params (write-once, so they must be stable per run)."""
    out = {f"stage.{name}.image": pod.image}
    argv = [*(pod.cmds or []), *(pod.args or [])]
    if argv:
        out[f"stage.{name}.command"] = shlex.join(argv)
    if pod.requests:
        out[f"stage.{name}.requests"] = ",".join(f"{k}={v}" for k, v in sorted(pod.requests.items()))
    if pod.limits:
        out[f"stage.{name}.limits"] = ",".join(f"{k}={v}" for k, v in sorted(pod.limits.items()))
    out[f"stage.{name}.gpu"] = str(pod.gpu)
    return out


def mlflow_env(ctx: PlanContext, pod: PodPlan) -> dict[str, str]:
    ex = ctx.spec.experiment
    assert ex is not None
    env = {**STAGE_HTTP_ENV, **pod.env}  # a stage may tune the client's retries itself
    env["MLFLOW_TRACKING_URI"] = ex.tracking_uri or MLFLOW_TRACKING_URI_TEMPLATE
    env["MLFLOW_EXPERIMENT_NAME"] = experiment_name(ctx)
    env["MLFLOW_RUN_ID"] = MLFLOW_RUN_ID_TEMPLATE
    return env


def credentials(ctx: PlanContext) -> tuple[SecretPlan, ...]:
    ex = ctx.spec.experiment
    if ex is None or ex.credentials_secret is None:
        return ()
    # key=None with env set: every key of the Secret becomes an env var (envFrom); nothing literal in the pod.
    return (SecretPlan(secret=ex.credentials_secret, key=None, env="MLFLOW_TRACKING_*"),)


def training_data(ctx: PlanContext) -> dict[str, DatasetFileDef]:
    """What each registered version is recorded as trained/validated on (MLflow dataset inputs of its run):
    ``experiment.datasets``, and the Feast training set (as ``training`` when no file is declared)."""
    ex = ctx.spec.experiment
    assert ex is not None
    out = {name: DatasetFileDef(path=ctx.resolve(d.path) or d.path, format=d.format)
           for name, d in sorted(ex.datasets.items())}
    fs = ctx.spec.feature_store
    if fs is not None and fs.training_set is not None:
        path = ctx.resolve(fs.training_set.output_path) or fs.training_set.output_path
        out.setdefault("training" if "training" not in out else "training_set", DatasetFileDef(path=path,
                                                                                                format="parquet"))
    return out


def _task(ctx: PlanContext, task_id: str, kind: TaskKind, payload: Payload, doc: str, **kw: Any) -> TaskPlan:
    # MLflow calls are bounded by the hook's own HTTP timeouts, not by the stages' execution timeout
    return ctx.task(task_id, kind, payload, execution_timeout=None, doc=doc, **kw)


def _descendants(graph: PlanGraph, task_id: str) -> list[str]:
    """Every task downstream of ``task_id`` (in plan order)."""
    found: set[str] = {task_id}
    changed = True
    while changed:
        changed = False
        for t in graph.tasks.values():
            if t.task_id not in found and found.intersection(t.upstream):
                found.add(t.task_id)
                changed = True
    return [t for t in graph.tasks if t in found and t != task_id]


def plan_experiment(ctx: PlanContext, graph: PlanGraph) -> None:
    spec = ctx.spec
    ex = spec.experiment
    if ex is None:
        return
    roots = [t.task_id for t in graph.roots()]
    params: dict[str, str] = {}
    stage_ids: list[str] = []
    for task in list(graph.tasks.values()):
        if task.pod is None:
            continue
        stage_ids.append(task.task_id)
        params.update(stage_params(task.pod, task.name))
        secrets = task.pod.secrets + tuple(s for s in credentials(ctx) if s not in task.pod.secrets)
        graph.update(task.task_id, pod=dataclasses.replace(task.pod, env=mlflow_env(ctx, task.pod), secrets=secrets),
                     payload=dataclasses.replace(task.payload, record_outcome=True))

    graph.add(_task(
        ctx, MLFLOW_START_RUN, TaskKind.MLFLOW_START_RUN,
        MlflowStartRunPayload(
            experiment_name=experiment_name(ctx),
            tracking_uri=ex.tracking_uri,
            conn_id=ex.conn_id,
            tags=dict(ex.tags),
            params_to_log=params,
            spec_name=spec.name,
            spec_file=ctx.loaded.file,
            spec_text=ctx.loaded.text,
            spec_sha256=ctx.loaded.sha256,
        ),
        "Creates this DAG run's MLflow run (or resumes it on retry, found by its airflow.dag_id/run_id tags) and "
        "logs the spec, its hash and every stage's image, command and resources. Returns the run id.",
    ))
    for root in roots:
        graph.add_edge(MLFLOW_START_RUN, root)

    if ex.registered_model and ex.model_stage:
        producer = stage_task_id(ex.model_stage)
        downstream = _descendants(graph, producer)
        graph.add(_task(
            ctx, MLFLOW_REGISTER_MODEL, TaskKind.MLFLOW_REGISTER_MODEL,
            MlflowRegisterModelPayload(
                registered_model=ex.registered_model,
                model_name=ex.model_name,
                alias=ex.alias,
                metric_gates=[MetricGateDef(metric=g.metric, op=g.op, threshold=g.threshold)
                              for g in ex.metric_gates],
                spec_sha256=ctx.loaded.sha256,
                datasets=training_data(ctx),
            ),
            f"Checks the metric gates, then registers the model logged by stage {ex.model_stage!r} as a new "
            f"version of {ex.registered_model!r} with alias {ex.alias!r} (idempotent per run).",
            upstream=(producer, *downstream),
        ))

    leaves = [t.task_id for t in graph.leaves()]
    graph.add(_task(
        ctx, MLFLOW_END_RUN, TaskKind.MLFLOW_END_RUN, MlflowEndRunPayload(stage_task_ids=stage_ids),
        "Teardown: sets the MLflow run to FINISHED, or FAILED when any task failed, and logs every task's state "
        "and every stage's duration and try. It runs whatever happened upstream and never makes a failed DAG run "
        "succeed.",
        upstream=tuple(leaves),
        trigger_rule="all_done",
        teardown=True,
    ))
