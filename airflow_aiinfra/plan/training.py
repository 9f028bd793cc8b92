"""training_pipeline → one ``stage`` task per stage, in the ``training`` group."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_aiinfra.contract import StagePayload, TaskKind, stage_task_id
from airflow_aiinfra.plan import pods
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import PodPlan, TaskPlan

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.model.training import Stage


def plan_stage(ctx: PlanContext, stage: Stage) -> TaskPlan:
    spec = ctx.spec
    d = spec.defaults
    requests, limits, gpu_resource = pods.resource_maps(stage.resources, d.gpu_vendor)
    tolerations = [t.model_dump(exclude_none=True) for t in stage.tolerations]
    node_selector = dict(stage.node_selector)
    if gpu_resource:
        if not any(t.get("key") == gpu_resource for t in tolerations):
            tolerations.append(pods.gpu_toleration(gpu_resource))
        node_selector = {**d.gpu_node_selector, **node_selector}
    pod_sc, container_sc = pods.security_contexts(stage.security_context or d.security_context, ctx.default_uid)
    pod = PodPlan(
        image=stage.image,
        cmds=stage.command,
        args=stage.args,
        env=dict(stage.env),
        requests=requests,
        limits=limits,
        gpu=stage.resources.gpu,
        gpu_resource=gpu_resource,
        secrets=pods.secrets(stage),
        volumes=pods.volumes(stage),
        node_selector=node_selector,
        tolerations=tuple(tolerations),
        affinity=stage.affinity,
        priority_class=stage.priority_class,
        namespace=d.namespace,
        service_account=d.service_account,
        image_pull_policy=d.image_pull_policy,
        image_pull_secrets=tuple(d.image_pull_secrets),
        labels={**d.labels, **stage.labels, "aiinfra/spec": spec.name, "aiinfra/stage": stage.name},
        annotations=dict(stage.annotations),
        pod_security=pod_sc,
        container_security=container_sc,
        kubernetes_conn_id=d.kubernetes_conn_id,
        startup_timeout=d.startup_timeout,
    )
    overrides = {}
    if stage.retries is not None:
        overrides["retries"] = stage.retries
    if stage.retry_delay is not None:
        overrides["retry_delay"] = stage.retry_delay
    if stage.timeout is not None:
        overrides["execution_timeout"] = stage.timeout
    return ctx.task(
        stage_task_id(stage.name),
        TaskKind.STAGE,
        StagePayload(gpu_count=stage.resources.gpu, local_cwd=ctx.options.bundle_root),
        upstream=tuple(stage_task_id(dep) for dep in stage.depends_on),
        pool=stage.pool_name(d.gpu_pool),
        pool_slots=stage.pool_slots,
        pod=pod,
        **overrides,
    )


def plan_training(ctx: PlanContext, graph: PlanGraph) -> None:
    if ctx.spec.training_pipeline is None:
        return
    for stage in ctx.spec.training_pipeline.stages:
        graph.add(plan_stage(ctx, stage))
