"""Every pod the example specs produce is built by the provider's own build_pod_request_obj() and validates
against the Kubernetes schema offline, in strict mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec
from tests.conftest import FIXTURES, ROOT

K8S_VERSION = "1.33.0"
SPECS = [*sorted((ROOT / "specs").rglob("*.yaml")), FIXTURES / "seed_spec.yaml", FIXTURES / "full_stage_spec.yaml"]


def all_pods(path: Path) -> dict[str, dict]:
    from airflow_aiinfra.wiring.dag import build_dag
    from airflow_aiinfra.wiring.render import pods_of

    out = {}
    for plan in build_plans(load_spec(path)):
        for task_id, pod in pods_of(build_dag(plan)).items():
            out[f"{plan.dag_id}.{task_id}"] = pod
    return out


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in SPECS])
def test_pods_validate_strictly_against_kubernetes_schema(path: Path) -> None:
    import kubernetes_validate

    pods = all_pods(path)
    assert pods
    for name, pod in pods.items():
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        container = pod["spec"]["containers"][0]
        if "privileged" not in name:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_validator_would_catch_a_bad_pod() -> None:
    import kubernetes_validate

    pod = next(iter(all_pods(FIXTURES / "seed_spec.yaml").values()))
    pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] = {"bad": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_full_stage_pod_carries_everything_declared() -> None:
    pods = all_pods(FIXTURES / "full_stage_spec.yaml")
    pod = pods["full__pipeline.training.train"]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "trainer"]
    assert container["args"] == ["--epochs", "{{ params.epochs }}", "--date", "{{ ds }}"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LR"]["value"] == "0.01"
    assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "wandb", "key": "api_key"}
    assert not any("hunter" in str(e) for e in container["env"])
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert {"/data", "/dev/shm", "/var/secrets/gcs"} <= set(mounts)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "imagenet"
    assert spec["priorityClassName"] == "training-high"
    assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert spec["serviceAccountName"] == "trainer" and spec["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["metadata"]["namespace"] == "ml"
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4",
                                                "ephemeral-storage": "100Gi"}
    assert container["resources"]["requests"]["cpu"] == "6"
    assert spec["securityContext"]["runAsUser"] == 1000 and spec["securityContext"]["runAsNonRoot"] is True
