"""Stages with ``distributed:`` or ``spark:`` → a training-job task or a Spark task (instead of one pod).

Runs last among the section planners: every planner before it may add env to a stage's pod (the training
set's path, the MLflow run's environment), and the job body is rendered from the finished pod, so every
rank, driver and executor gets all of it. The task keeps its ``pod`` (what one node runs) for the MLflow
params and ``aiinfra render``; the payload carries the rendered body and what the local runner needs.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_aiinfra.contract import (
    MLFLOW_START_RUN,
    DistributedJobPayload,
    ExecutorsDef,
    MlflowStartRunPayload,
    SparkPayload,
    SparkRoleDef,
    StagePayload,
    TaskKind,
    TopologyDef,
    stage_task_id,
)
from airflow_aiinfra.distributed.topology import Parallelism, Topology
from airflow_aiinfra.kube.jobs import build_job
from airflow_aiinfra.kube.naming import job_name
from airflow_aiinfra.kube.spark import Executors, SparkRole, build_spark_application
from airflow_aiinfra.plan import pods
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.dags import pipeline_dag_id
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import PodPlan, TaskPlan

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.model.distributed import SparkResources
    from airflow_aiinfra.spec.model.training import Stage

# The operators name each object per DAG run and task (kube.naming.job_name); the plan shows this run id.
PLANNED_RUN_ID = "<each DAG run>"
# Where a relative spark.application lives in the image: the Apache Spark images' working directory.
SPARK_WORKDIR = "/opt/spark/work-dir"


def topology_of(stage: Stage) -> Topology:
    d = stage.distributed
    assert d is not None
    gpu = stage.resources.gpu
    p = d.parallelism
    return Topology(
        nodes=d.nodes,
        procs_per_node=d.procs(gpu),
        backend=d.backend_for(gpu),  # type: ignore[arg-type]
        parallelism=Parallelism(data=p.data, tensor=p.tensor, pipeline=p.pipeline) if p else None,
    )


def topology_def(t: Topology) -> TopologyDef:
    p = t.parallelism
    return TopologyDef(nodes=t.nodes, procs_per_node=t.procs_per_node, backend=t.backend,
                       parallelism=dataclasses.asdict(p) if p else None)


def checkpoint_dir(ctx: PlanContext, stage: Stage) -> str:
    """This DAG run's checkpoint directory: a retry of the task (same run) finds what the last try saved."""
    assert stage.distributed is not None
    base = stage.distributed.checkpoint_dir.rstrip("/") or "/"
    return f"{base}/{ctx.spec.name}/{stage.name}/{{{{ run_id }}}}"


def mlflow_params(stage: Stage, topology: Topology) -> dict[str, str]:
    """The topology as params of the pipeline's MLflow run, per stage (params are write-once)."""
    return {f"stage.{stage.name}.{k}": v for k, v in topology.mlflow_params().items()}


def plan_job(ctx: PlanContext, stage: Stage, task: TaskPlan) -> TaskPlan:
    d = stage.distributed
    assert d is not None and task.pod is not None
    pod, topology, ckpt = task.pod, topology_of(stage), checkpoint_dir(ctx, stage)
    extra: dict[str, Any] = {"runtime": d.runtime} if d.job == "trainjob" and d.runtime else {}
    body = build_job(d.job, pod, topology, name=job_name(pipeline_dag_id(ctx.spec.name), task.task_id,
                                                          PLANNED_RUN_ID), checkpoint_dir=ckpt, **extra)
    assert isinstance(task.payload, StagePayload)
    payload = DistributedJobPayload(
        body=body,
        kubernetes_conn_id=pod.kubernetes_conn_id,
        command=[*(pod.cmds or ()), *(pod.args or ())],
        topology=topology_def(topology),
        env=dict(pod.env),
        gpu_count=pod.gpu,
        checkpoint_dir=ckpt,
        local_cwd=task.payload.local_cwd,
        record_outcome=task.payload.record_outcome,
    )
    doc = (f"Distributed PyTorch stage **{stage.name}**: a {body['kind']} of {topology.nodes} node(s) × "
           f"{topology.procs_per_node} process(es) ({topology.backend}), each node with the stage's resources; "
           f"checkpoints in `{ckpt}`. Under `[aiinfra] runner = local`: torchrun on the worker.")
    return dataclasses.replace(task, kind=TaskKind.DISTRIBUTED_JOB, payload=payload, doc=doc)


def cluster_application(path: str) -> str:
    """spark.application as the Spark operator needs it: a URI (local:// = a file in the image)."""
    if "://" in path:
        return path
    return f"local://{path}" if path.startswith("/") else f"local://{SPARK_WORKDIR}/{path}"


def _role(res: SparkResources, gpu_resource: str) -> SparkRole:
    return SparkRole(cpu=res.cpu, memory=res.memory, memory_overhead=res.memory_overhead, gpu=res.gpu,
                     gpu_resource=gpu_resource)


def _with_gpu_placement(ctx: PlanContext, pod: PodPlan, gpu_resource: str) -> PodPlan:
    """Executors with GPUs get the GPU toleration and node selector a GPU stage's pod gets."""
    tolerations = pod.tolerations
    if not any(t.get("key") == gpu_resource for t in tolerations):
        tolerations = (*tolerations, pods.gpu_toleration(gpu_resource))
    return dataclasses.replace(pod, tolerations=tolerations,
                               node_selector={**ctx.spec.defaults.gpu_node_selector, **pod.node_selector})


def plan_spark(ctx: PlanContext, stage: Stage, task: TaskPlan) -> TaskPlan:
    sp = stage.spark
    assert sp is not None and task.pod is not None
    gpu_resource = pods.GPU_RESOURCE[stage.resources.gpu_vendor or ctx.spec.defaults.gpu_vendor]
    pod = _with_gpu_placement(ctx, task.pod, gpu_resource) if stage.job_gpus else task.pod
    driver, executor = _role(sp.driver, gpu_resource), _role(sp.executor, gpu_resource)
    e = sp.executors
    executors = Executors(count=e.count, min_count=e.min, max_count=e.max)
    conf = {k: str(v) for k, v in sp.conf.items()}
    app = build_spark_application(
        pod,
        name=job_name(pipeline_dag_id(ctx.spec.name), task.task_id, PLANNED_RUN_ID),
        main_application_file=cluster_application(sp.application),
        driver=driver,
        executor=executor,
        executors=executors,
        conf=conf,
        arguments=list(sp.arguments),
        app_type=sp.type,
        main_class=sp.main_class,
        spark_version=sp.spark_version,
    )
    assert isinstance(task.payload, StagePayload)
    payload = SparkPayload(
        template_spec={"spark": app},
        namespace=pod.namespace,
        kubernetes_conn_id=pod.kubernetes_conn_id,
        application=sp.application,
        application_args=list(sp.arguments),
        spark_conf=conf,
        driver_resources=SparkRoleDef(**dataclasses.asdict(driver)),  # type: ignore[typeddict-item]
        executor_resources=SparkRoleDef(**dataclasses.asdict(executor)),  # type: ignore[typeddict-item]
        executors=ExecutorsDef(count=e.count, min_count=e.min, max_count=e.max),
        env=dict(pod.env),
        local_cwd=task.payload.local_cwd,
        record_outcome=task.payload.record_outcome,
    )
    count = f"{e.count}" if e.count is not None else f"{e.min}..{e.max} (dynamic allocation)"
    doc = (f"Spark stage **{stage.name}**: SparkApplication `{sp.application}` with {count} executor(s) of "
           f"{sp.executor.cpu} CPU / {sp.executor.memory}. Under `[aiinfra] runner = local`: spark-submit "
           "--master local[N] on the worker.")
    return dataclasses.replace(task, kind=TaskKind.SPARK, payload=payload, pod=pod, doc=doc)


def spark_params(stage: Stage) -> dict[str, str]:
    sp = stage.spark
    assert sp is not None
    e = sp.executors
    return {
        f"stage.{stage.name}.spark.executors": str(e.count) if e.count is not None else f"{e.min}..{e.max}",
        f"stage.{stage.name}.spark.driver": f"cpu={sp.driver.cpu},memory={sp.driver.memory}",
        f"stage.{stage.name}.spark.executor": f"cpu={sp.executor.cpu},memory={sp.executor.memory}",
    }


def plan_distributed(ctx: PlanContext, graph: PlanGraph) -> None:
    tp = ctx.spec.training_pipeline
    if tp is None:
        return
    params: dict[str, str] = {}
    for stage in tp.stages:
        task_id = stage_task_id(stage.name)
        if stage.distributed is not None:
            planned = plan_job(ctx, stage, graph.tasks[task_id])
            params.update(mlflow_params(stage, topology_of(stage)))
        elif stage.spark is not None:
            planned = plan_spark(ctx, stage, graph.tasks[task_id])
            params.update(spark_params(stage))
        else:
            continue
        graph.update(task_id, kind=planned.kind, payload=planned.payload, pod=planned.pod, doc=planned.doc)
    start = graph.tasks.get(MLFLOW_START_RUN)
    if params and start is not None:
        assert isinstance(start.payload, MlflowStartRunPayload)
        graph.update(MLFLOW_START_RUN, payload=dataclasses.replace(
            start.payload, params_to_log={**start.payload.params_to_log, **params}))
