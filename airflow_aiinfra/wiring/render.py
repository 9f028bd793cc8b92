"""``aiinfra render SPEC``: each DAG's tasks and dependencies, every pod as Kubernetes YAML, built by the
provider's own ``build_pod_request_obj(dry_run=True)``, and every TrainJob, PyTorchJob and SparkApplication
as the plan renders it (kube.jobs / kube.spark); for a spec serving through HAProxy its haproxy.cfg and
Prometheus config (wiring/serving_render.py), and for a KServe or Istio rollout router the objects it creates
and every patch body it sends (serving.mesh_routes): no cluster, no kube config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_aiinfra.contract import DistributedJobPayload, SparkPayload
from airflow_aiinfra.plan.model import DagPlan


def pods_of(dag: Any) -> dict[str, dict[str, Any]]:
    """task_id → pod manifest (a plain dict) for every pod-running task of a DAG."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    from airflow_aiinfra.kube.client_models import to_yaml

    out = {}
    for task in dag.tasks:
        # a SparkKubernetesOperator is a KPO whose own pod means nothing: its SparkApplication is the object
        if isinstance(task, KubernetesPodOperator) and not isinstance(task, SparkKubernetesOperator):
            out[task.task_id] = to_yaml(task.build_pod_request_obj(dry_run=True))
    return out


def custom_objects_of(plan: DagPlan) -> dict[str, dict[str, Any]]:
    """task_id → the custom object (TrainJob, PyTorchJob, SparkApplication) a task creates, as planned."""
    out: dict[str, dict[str, Any]] = {}
    for task in plan.tasks:
        if isinstance(task.payload, DistributedJobPayload):
            out[task.task_id] = dict(task.payload.body)
        elif isinstance(task.payload, SparkPayload):
            out[task.task_id] = dict(task.payload.template_spec["spark"])
    return out


def router_objects_of(serving: Any) -> list[str]:
    """YAML chunks for a ``model_serving`` block whose router is KServe or Istio: the objects a first deploy
    creates, then each patch body of a rollout through ``rollout.steps`` (HAProxy: none; its config is
    rendered by serving.haproxy_config)."""
    if serving is None or serving.rollout.router.type not in ("kserve", "istio"):
        return []
    import yaml

    from airflow_aiinfra.serving.mesh_routes import render_router_objects, render_router_patches

    canary = next((v.version for v in serving.versions if v.canary), None)
    routes = [r.condition for r in serving.routing_rules
              if r.target_version == canary and r.condition.strip() != "default"]
    settings = serving.rollout.router.model_dump()
    chunks = [f"# {obj['kind']} of the {settings['type']} router (first deploy)\n" + yaml.safe_dump(obj, sort_keys=False)
              for obj in render_router_objects(settings, routes=routes)]
    chunks += [f"# merge patch of the {settings['type']} router: {what}\n" + yaml.safe_dump(body, sort_keys=False)
               for what, body in render_router_patches(settings, steps=serving.rollout.steps, routes=routes)]
    return chunks


def render_spec(path: str) -> str:
    import yaml

    from airflow_aiinfra import config
    from airflow_aiinfra.bundle import bundle_root_for_spec
    from airflow_aiinfra.plan.build import build_plans
    from airflow_aiinfra.plan.context import PlanOptions
    from airflow_aiinfra.spec.load import load_spec
    from airflow_aiinfra.wiring.dag import build_dag

    loaded = load_spec(Path(path), config.spec_options())
    options = PlanOptions(default_uid=config.default_uid(), bundle_root=str(bundle_root_for_spec(path)))
    chunks = []
    for plan in build_plans(loaded, options):
        dag = build_dag(plan)
        assets = "".join(f" or asset {a}" for a in plan.schedule.assets)
        lines = [f"# DAG {plan.dag_id}  schedule={plan.schedule.cron or plan.schedule.kind}{assets}  spec={loaded.file}"]
        for task in plan.tasks:
            deps = ", ".join(task.upstream) or "-"
            pool = f"  pool={task.pool}x{task.pool_slots}" if task.pool else ""
            emits = f"  emits: {', '.join(task.outlets)}" if task.outlets else ""
            lines.append(f"#   {task.task_id:<40} [{task.kind}] after: {deps}{pool}{emits}")
        chunks.append("\n".join(lines))
        for task_id, manifest in pods_of(dag).items():
            chunks.append(f"# pod of {plan.dag_id}.{task_id}\n" + yaml.safe_dump(manifest, sort_keys=False))
        for task_id, obj in custom_objects_of(plan).items():
            chunks.append(f"# {obj['kind']} of {plan.dag_id}.{task_id} (metadata.name is set per DAG run: the "
                          f"same for every try)\n" + yaml.safe_dump(obj, sort_keys=False))
    if loaded.spec.model_serving is not None:
        from airflow_aiinfra.wiring.serving_render import render_serving

        chunks.extend(render_serving(loaded.spec))
    chunks += router_objects_of(loaded.spec.model_serving)
    return "\n---\n".join(chunks) + "\n"
