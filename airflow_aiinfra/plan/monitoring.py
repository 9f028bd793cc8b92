"""batch_inference → ``<name>__inference``; drift → ``<name>__monitor``; retrain_on → the pipeline's asset.

``<name>__inference``: ``inference.resolve_model`` pins ``models:/NAME@ALIAS`` to a version for the interval
(kept by a rerun of the interval), then ``inference.score`` runs like a stage (a pod from the section's image
and resources, or the local runner) with the pinned version in its env, writes one file per interval and
emits the ``predictions`` Asset event.

``<name>__monitor``: waits for the same interval's inference run (when both DAGs share a schedule), checks
drift and decay, and ``monitor.retrain`` emits the ``retrain`` Asset event the pipeline is also scheduled on.
"""

from __future__ import annotations

import dataclasses

from airflow_aiinfra.contract import (
    EVENT_WINDOW_END,
    EVENT_WINDOW_START,
    INFERENCE_GROUP,
    INFERENCE_PUBLISH,
    INFERENCE_RESOLVE_MODEL,
    INFERENCE_SCORE,
    MONITOR_DECAY,
    MONITOR_DRIFT,
    MONITOR_RETRAIN,
    MONITOR_WAIT,
    PINNED_MODEL_TEMPLATE,
    DecayCheckPayload,
    DriftCheckPayload,
    DriftFeatureDef,
    FloorDef,
    InferencePublishPayload,
    InferenceResolvePayload,
    OfflineSourceDef,
    RetrainRequestPayload,
    TaskKind,
    WaitDagRunPayload,
    asset_uri,
)
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.dags import dag_plan
from airflow_aiinfra.plan.experiment import credentials, experiment_name
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.plan.training import plan_stage

INFERENCE = "inference"
MONITOR = "monitor"
SCORE_MODULE = "airflow_aiinfra.monitoring.scoring"


def _mlflow(ctx: PlanContext, model_uri: str) -> dict[str, str | None]:
    ex = ctx.spec.experiment
    return {"spec_name": ctx.spec.name, "model_uri": model_uri, "experiment_name": experiment_name(ctx),
            "tracking_uri": ex.tracking_uri if ex else None, "conn_id": ex.conn_id if ex else None}


def score_env(ctx: PlanContext) -> dict[str, str]:
    bi = ctx.spec.batch_inference
    assert bi is not None
    pinned = {k: PINNED_MODEL_TEMPLATE % k for k in ("model_uri", "version", "run_id", "tracking_uri")}
    return {
        **bi.env,
        "MLFLOW_TRACKING_URI": pinned["tracking_uri"],
        "AIINFRA_MODEL_URI": pinned["model_uri"],
        "AIINFRA_MODEL_VERSION": pinned["version"],
        "AIINFRA_MODEL_RUN_ID": pinned["run_id"],
        "AIINFRA_INPUT": ctx.resolve(bi.input.path) or bi.input.path,
        "AIINFRA_INPUT_FORMAT": bi.input.format or "",
        "AIINFRA_OUTPUT_DIR": ctx.resolve(bi.output_dir) or bi.output_dir,
        "AIINFRA_WINDOW_START": "{{ data_interval_start.isoformat() }}",
        "AIINFRA_WINDOW_END": "{{ data_interval_end.isoformat() }}",
        "AIINFRA_FEATURES": ",".join(bi.features),
        "AIINFRA_KEEP_COLUMNS": ",".join(bi.keep_columns),
        "AIINFRA_CHUNK_ROWS": str(bi.chunk_rows),
    }


def plan_inference_dag(ctx: PlanContext) -> DagPlan | None:
    bi = ctx.spec.batch_inference
    if bi is None:
        return None
    from airflow_aiinfra.spec.model.training import Stage

    graph = PlanGraph()
    graph.add(ctx.task(
        INFERENCE_RESOLVE_MODEL, TaskKind.INFERENCE_RESOLVE, InferenceResolvePayload(**_mlflow(ctx, bi.model)),
        execution_timeout=None,
        doc=f"Pins {bi.model} to a concrete version for this data interval (an MLflow run per interval keeps it: "
            "a rerun scores with the same version even after the alias moved) and returns it.",
    ))
    stage = Stage.model_validate({"name": "score", "image": bi.image, "command": ["python", "-m", SCORE_MODULE],
                                  "resources": bi.resources.model_dump(exclude_none=True)})
    task = plan_stage(ctx, stage)
    assert task.pod is not None
    secrets = task.pod.secrets + credentials(ctx) if ctx.spec.experiment else task.pod.secrets
    pod = dataclasses.replace(task.pod, env=score_env(ctx), secrets=secrets,
                              labels={**task.pod.labels, "aiinfra/stage": "inference-score"})
    graph.add(dataclasses.replace(
        task, task_id=INFERENCE_SCORE, group=INFERENCE_GROUP, pod=pod, upstream=(INFERENCE_RESOLVE_MODEL,),
        outlets=(asset_uri(ctx.spec.name, "predictions"),),
        doc="Scores the interval's input with the pinned version in chunks (bounded memory) and atomically "
            "replaces the interval's output file; rows in must equal rows out.",
    ))
    if bi.output_table is not None:
        graph.add(ctx.task(
            INFERENCE_PUBLISH, TaskKind.INFERENCE_PUBLISH,
            InferencePublishPayload(output_dir=ctx.resolve(bi.output_dir) or bi.output_dir,
                                    table=bi.output_table.table, conn_id=bi.output_table.conn_id),
            upstream=(INFERENCE_SCORE,),
            doc=f"Replaces the interval's rows of {bi.output_table.table} with the output file, in one transaction."))
    return dag_plan(ctx, ctx.dag_id(INFERENCE), graph, schedule=bi.schedule, extra_tags=("inference",))


def offline_sources(ctx: PlanContext) -> list[OfflineSourceDef]:
    fs = ctx.spec.feature_store
    if fs is None:
        return []
    return [OfflineSourceDef(path=ctx.resolve(src.path) or src.path, timestamp_field=src.timestamp_field)
            for _, src in sorted(fs.sources.items()) if src.path]


def monitor_schedule(ctx: PlanContext) -> str | None:
    dr, bi = ctx.spec.drift, ctx.spec.batch_inference
    assert dr is not None
    if dr.schedule is not None:
        return dr.schedule
    return bi.schedule if bi is not None else ctx.spec.schedule


def _feature(f: object) -> DriftFeatureDef:
    return DriftFeatureDef(name=f.name, type=f.type, test=f.effective_test,  # type: ignore[attr-defined]
                           threshold=f.effective_threshold)  # type: ignore[attr-defined]


def plan_monitor_dag(ctx: PlanContext) -> DagPlan | None:
    spec = ctx.spec
    dr, bi = spec.drift, spec.batch_inference
    if dr is None:
        return None
    model_uri = bi.model if bi is not None else f"models:/{spec.experiment.registered_model}@champion"  # type: ignore[union-attr]
    common = _mlflow(ctx, model_uri)
    schedule = monitor_schedule(ctx)
    graph = PlanGraph()
    roots: tuple[str, ...] = ()
    if bi is not None and schedule == bi.schedule:
        graph.add(ctx.task(
            MONITOR_WAIT, TaskKind.WAIT_DAG_RUN,
            WaitDagRunPayload(external_dag_id=ctx.dag_id(INFERENCE), timeout_seconds=int(dr.wait_timeout.total_seconds())),
            retries=0, execution_timeout=None,
            doc=f"Waits (rescheduling, no worker slot held) for {ctx.dag_id(INFERENCE)} of the same interval."))
        roots = (MONITOR_WAIT,)
    if dr.current == "batch_inference":
        current, current_path = "batch_inference", ctx.resolve(bi.output_dir) if bi else None
    elif dr.current == "request_log":
        current, current_path = "request_log", ctx.resolve(dr.request_log_dir)
    elif dr.current == "offline_store":
        current, current_path = "offline_store", None
    else:
        current, current_path = "file", ctx.resolve(dr.current.path)  # type: ignore[union-attr]
    reference = None if dr.reference == "champion" else ctx.resolve(dr.reference.path)  # type: ignore[union-attr]
    prediction = _feature(dr.prediction) if dr.prediction is not None else None
    graph.add(ctx.task(
        MONITOR_DRIFT, TaskKind.DRIFT_CHECK,
        DriftCheckPayload(**common, reference_path=reference, current=current, current_path=current_path,
                          offline_sources=offline_sources(ctx) if current == "offline_store" else [],
                          features=[_feature(f) for f in dr.features], prediction=prediction,
                          drift_share=dr.drift_share, on_drift=dr.on_drift),
        upstream=roots, execution_timeout=None,
        doc="Per feature and for the predictions: the window against the champion's training data (scipy "
            "tests); logs a monitoring run with the HTML report to MLflow; fails or warns per on_drift."))
    checks = {"drift": MONITOR_DRIFT}
    if dr.decay is not None and bi is not None:
        decay = dr.decay
        ex = spec.experiment
        floors = decay.floors or (ex.metric_gates if ex else [])
        graph.add(ctx.task(
            MONITOR_DECAY, TaskKind.DECAY_CHECK,
            DecayCheckPayload(**common, predictions_path=ctx.resolve(bi.output_dir) or bi.output_dir,
                              labels_path=ctx.resolve(decay.labels.path) or decay.labels.path,
                              key=list(decay.labels.key), label_column=decay.labels.label, task=decay.task,
                              floors=[FloorDef(metric=g.metric, op=g.op, threshold=g.threshold) for g in floors],
                              on_decay=decay.on_decay),
            upstream=roots, execution_timeout=None,
            doc="Joins the interval's labels to its predictions, computes the metrics and compares them with "
                "the floors (default: the experiment's metric gates) and the version's registered metrics."))
        checks["decay"] = MONITOR_DECAY
    if dr.retrain_on:
        retrain = asset_uri(spec.name, "retrain")
        graph.add(ctx.task(
            MONITOR_RETRAIN, TaskKind.RETRAIN_REQUEST,
            RetrainRequestPayload(retrain_on=list(dr.retrain_on), check_task_ids=checks,
                                  cooldown_seconds=int(dr.cooldown.total_seconds()), asset_uri=retrain),
            upstream=tuple(checks.values()), trigger_rule="all_done", retries=0, execution_timeout=None,
            outlets=(retrain,), inlets=(retrain,),
            doc=f"Emits {retrain} (extra: {EVENT_WINDOW_START}/{EVENT_WINDOW_END} of this window) when "
                f"{' or '.join(dr.retrain_on)} was found and no request came within the cool-down; else skipped."))
    return dag_plan(ctx, ctx.dag_id(MONITOR), graph, schedule=schedule, extra_tags=("monitoring",))


def pipeline_assets(ctx: PlanContext) -> tuple[str, ...]:
    """Assets the pipeline is scheduled on besides its cron: the monitor's retrain requests."""
    dr = ctx.spec.drift
    return (asset_uri(ctx.spec.name, "retrain"),) if dr is not None and dr.retrain_on else ()
