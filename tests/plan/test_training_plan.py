"""Stage → TaskPlan/PodPlan: resources exactly as declared, GPUs, pools, security context, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.spec.load import load_spec_text

BASE = """
name: t
defaults:
  retries: 3
  retry_delay: 30s
  execution_timeout: 2h
  gpu_node_selector: {accelerator: a100}
training_pipeline:
  stages:
    - name: s
      image: img
{extra}
"""


def plan_stage(extra: str, options: PlanOptions | None = None):
    indented = "\n".join("      " + line for line in extra.strip("\n").splitlines())
    (dag,) = build_plans(load_spec_text(BASE.replace("{extra}", indented)), options)
    return dag.task("training.s")


@pytest.mark.parametrize(
    ("extra", "requests", "limits"),
    [
        pytest.param("resources: {cpu: '2', memory: 8Gi}", {"cpu": "2", "memory": "8Gi"},
                     {"cpu": "2", "memory": "8Gi"}, id="plain-equal-limits"),
        pytest.param("resources: {cpu: 2, memory: 8Gi, gpu: '1'}",
                     {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                     {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}, id="gpu-string"),
        pytest.param("resources: {cpu: '4', requests: {cpu: 500m}, limits: {memory: 2Gi}}",
                     {"cpu": "500m"}, {"cpu": "4", "memory": "2Gi"}, id="explicit-override"),
        pytest.param("resources: {gpu: 2, gpu_vendor: amd, ephemeral_storage: 20Gi}",
                     {"amd.com/gpu": "2", "ephemeral-storage": "20Gi"},
                     {"amd.com/gpu": "2", "ephemeral-storage": "20Gi"}, id="amd-ephemeral"),
        pytest.param("resources: {cpu: 0.5}", {"cpu": "0.5"}, {"cpu": "0.5"}, id="fractional-cpu"),
    ],
)
def test_resources(extra: str, requests: dict, limits: dict) -> None:
    pod = plan_stage(extra).pod
    assert pod.requests == requests
    assert pod.limits == limits


def test_gpu_stage_gets_toleration_node_selector_and_pool_slots() -> None:
    task = plan_stage("resources: {gpu: 2}\nnode_selector: {zone: a}")
    assert task.pool == "aiinfra_gpu" and task.pool_slots == 2
    assert task.pod.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert task.pod.node_selector == {"accelerator": "a100", "zone": "a"}


def test_cpu_stage_has_default_pool_and_no_gpu_scheduling() -> None:
    task = plan_stage("resources: {cpu: '1'}")
    assert task.pool is None and task.pool_slots == 1
    assert task.pod.tolerations == () and task.pod.node_selector == {}


def test_retries_timeout_and_backoff_from_defaults_and_stage() -> None:
    task = plan_stage("retries: 5\ntimeout: 45m")
    assert task.retries == 5
    assert task.retry_delay == timedelta(seconds=30)
    assert task.execution_timeout == timedelta(minutes=45)
    assert task.retry_exponential_backoff is True
    assert plan_stage("").retries == 3


def test_restricted_security_context_by_default_with_configurable_uid() -> None:
    pod = plan_stage("", PlanOptions(default_uid=4242)).pod
    assert pod.pod_security == {"run_as_non_root": True, "run_as_user": 4242, "seccomp_profile": {"type": "RuntimeDefault"}}
    assert pod.container_security == {
        "allow_privilege_escalation": False, "capabilities": {"drop": ["ALL"]}, "run_as_non_root": True,
        "seccomp_profile": {"type": "RuntimeDefault"}}


@pytest.mark.parametrize(
    ("extra", "pod_sc", "container_sc"),
    [
        pytest.param("security_context: {profile: baseline, run_as_user: 0}",
                     {"seccomp_profile": {"type": "RuntimeDefault"}, "run_as_user": 0},
                     {"allow_privilege_escalation": False}, id="baseline-root"),
        pytest.param("security_context: {profile: privileged}", {}, {}, id="privileged"),
        pytest.param("security_context: {run_as_user: 2000, fs_group: 3000, read_only_root_filesystem: true}",
                     {"run_as_non_root": True, "run_as_user": 2000, "fs_group": 3000,
                      "seccomp_profile": {"type": "RuntimeDefault"}},
                     {"allow_privilege_escalation": False, "capabilities": {"drop": ["ALL"]}, "run_as_non_root": True,
                      "seccomp_profile": {"type": "RuntimeDefault"}, "read_only_root_filesystem": True},
                     id="restricted-custom"),
    ],
)
def test_explicit_security_relaxation(extra: str, pod_sc: dict, container_sc: dict) -> None:
    pod = plan_stage(extra).pod
    assert pod.pod_security == pod_sc
    assert pod.container_security == container_sc


def test_shm_and_volumes_and_secrets() -> None:
    pod = plan_stage("""
resources: {shm_size: 2Gi}
volumes:
  - {name: data, mount_path: /data, pvc: training-data, read_only: true}
  - {name: cfg, mount_path: /etc/cfg, config_map: train-config}
secrets:
  - {secret: wandb, key: api_key, env: WANDB_API_KEY}
  - {secret: gcs, mount_path: /var/secrets/gcs}
""").pod
    assert [(v.name, v.kind, v.source) for v in pod.volumes] == [
        ("data", "pvc", "training-data"), ("cfg", "config_map", "train-config"), ("dshm", "empty_dir", None)]
    assert pod.volumes[-1].medium == "Memory" and pod.volumes[-1].size_limit == "2Gi"
    assert [(s.secret, s.key, s.env, s.mount_path) for s in pod.secrets] == [
        ("wandb", "api_key", "WANDB_API_KEY", None), ("gcs", None, None, "/var/secrets/gcs")]


def test_plan_has_no_airflow_objects() -> None:
    (dag,) = build_plans(load_spec_text(BASE.replace("{extra}", "")))
    assert dag.dag_id == "t__pipeline"
    assert dag.schedule.kind == "none"
    assert "```yaml" in dag.doc_md and "name: t" in dag.doc_md
