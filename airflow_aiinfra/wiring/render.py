"""``aiinfra render SPEC``: each DAG's tasks and dependencies, and every pod as Kubernetes YAML,
built by the provider's own ``build_pod_request_obj(dry_run=True)``: no cluster, no kube config."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pods_of(dag: Any) -> dict[str, dict[str, Any]]:
    """task_id → pod manifest (a plain dict) for every pod-running task of a DAG."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from airflow_aiinfra.kube.client_models import to_yaml

    out = {}
    for task in dag.tasks:
        if isinstance(task, KubernetesPodOperator):
            out[task.task_id] = to_yaml(task.build_pod_request_obj(dry_run=True))
    return out


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
        lines = [f"# DAG {plan.dag_id}  schedule={plan.schedule.cron or plan.schedule.kind}  spec={loaded.file}"]
        for task in plan.tasks:
            deps = ", ".join(task.upstream) or "-"
            pool = f"  pool={task.pool}x{task.pool_slots}" if task.pool else ""
            lines.append(f"#   {task.task_id:<40} [{task.kind}] after: {deps}{pool}")
        chunks.append("\n".join(lines))
        for task_id, manifest in pods_of(dag).items():
            chunks.append(f"# pod of {plan.dag_id}.{task_id}\n" + yaml.safe_dump(manifest, sort_keys=False))
    return "\n---\n".join(chunks) + "\n"
