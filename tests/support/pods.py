"""PodPlans shaped like the ones the planner makes for the seed's training stages (plan/training.py)."""

from __future__ import annotations

from dataclasses import replace

from airflow_aiinfra.plan.model import PodPlan, SecretPlan, VolumePlan

GPU = "nvidia.com/gpu"
RESTRICTED_POD = {"run_as_non_root": True, "run_as_user": 1000, "seccomp_profile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {
    "allow_privilege_escalation": False,
    "capabilities": {"drop": ["ALL"]},
    "run_as_non_root": True,
    "seccomp_profile": {"type": "RuntimeDefault"},
}


def seed_training_pod(**changes: object) -> PodPlan:
    """The seed's ``model_training`` stage (cpu 4, memory 16Gi, gpu 2) with a command and MLflow env."""
    pod = PodPlan(
        image="training:latest",
        cmds=["python", "train.py"],
        args=["--epochs", "3"],
        env={
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "MLFLOW_EXPERIMENT_NAME": "seed",
            "MLFLOW_RUN_ID": "{{ ti.xcom_pull(task_ids='experiment.start') }}",
        },
        requests={"cpu": "4", "memory": "16Gi", GPU: "2"},
        limits={"cpu": "4", "memory": "16Gi", GPU: "2"},
        gpu=2,
        gpu_resource=GPU,
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
        tolerations=({"key": GPU, "operator": "Exists", "effect": "NoSchedule"},),
        namespace="ml",
        labels={"aiinfra/spec": "seed", "aiinfra/stage": "model_training"},
        pod_security=RESTRICTED_POD,
        container_security=RESTRICTED_CONTAINER,
    )
    return replace(pod, **changes)  # type: ignore[arg-type]


def full_training_pod(**changes: object) -> PodPlan:
    """Every pod feature a stage can declare: secrets (key env, whole-secret env, files), volumes,
    affinity, service account, pull secrets, annotations."""
    pod = seed_training_pod(
        cmds=["python", "-m", "trainer"],
        secrets=(
            SecretPlan("wandb", key="api_key", env="WANDB_API_KEY"),
            SecretPlan("gcs-key", mount_path="/var/secrets/gcs"),
            SecretPlan("mlflow-creds", env="MLFLOW_TRACKING_*"),
        ),
        volumes=(
            VolumePlan("data", "/data", "pvc", "imagenet", read_only=True),
            VolumePlan("dshm", "/dev/shm", "empty_dir", medium="Memory", size_limit="8Gi"),
        ),
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "topology.kubernetes.io/zone",
                                    "operator": "In",
                                    "values": ["us-central1-a"],
                                }
                            ]
                        }
                    ]
                }
            }
        },
        tolerations=(
            {"key": GPU, "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "spot",
                "operator": "Equal",
                "value": "true",
                "effect": "NoExecute",
                "toleration_seconds": 300,
            },
        ),
        service_account="trainer",
        image_pull_secrets=("registry",),
        annotations={"team": "recsys"},
    )
    return replace(pod, **changes)  # type: ignore[arg-type]


def cpu_pod(**changes: object) -> PodPlan:
    pod = PodPlan(
        image="python:3.11",
        cmds=["python", "job.py"],
        args=None,
        env={},
        requests={"cpu": "2", "memory": "4Gi"},
        limits={"cpu": "2", "memory": "4Gi"},
        namespace="data",
        pod_security=RESTRICTED_POD,
        container_security=RESTRICTED_CONTAINER,
    )
    return replace(pod, **changes)  # type: ignore[arg-type]
