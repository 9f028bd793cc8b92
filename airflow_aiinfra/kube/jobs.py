"""PodPlan (one node's pod) + Topology → a Kubeflow TrainJob or PyTorchJob, as a plain dict.

Every node gets exactly the single-pod stage's declared resources, tolerations, node
selector, security contexts, volumes and secrets, plus the topology's environment
(distributed.topology.ENV_DOC). Airflow owns retries: a PyTorchJob's replicas do not
restart (``restartPolicy: Never``, ``backoffLimit: 0``) unless asked; a TrainJob's restart
behaviour is its runtime's (JobSet failure policy), which this object cannot override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_aiinfra.distributed.launch import cluster_command
from airflow_aiinfra.distributed.topology import Topology
from airflow_aiinfra.kube.podspec import container_fields, pod_parts, pod_spec_fields, template_metadata
from airflow_aiinfra.plan.model import PodPlan

JobKindName = Literal["trainjob", "pytorchjob"]


@dataclass(frozen=True)
class JobKind:
    """Where a job kind lives in the API and how its pods are found and ranked."""

    group: str
    version: str
    plural: str
    kind: str
    pod_job_label: str  # label on every pod whose value is the job's name
    container: str  # the training container's name in each pod

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


TRAINJOB = JobKind(
    "trainer.kubeflow.org",
    "v1alpha1",
    "trainjobs",
    "TrainJob",
    pod_job_label="jobset.sigs.k8s.io/jobset-name",
    container="node",
)
PYTORCHJOB = JobKind(
    "kubeflow.org",
    "v1",
    "pytorchjobs",
    "PyTorchJob",
    pod_job_label="training.kubeflow.org/job-name",
    container="pytorch",
)
JOB_KINDS: dict[str, JobKind] = {"trainjob": TRAINJOB, "pytorchjob": PYTORCHJOB}
RESTART_POLICIES = ("Never", "OnFailure", "Always", "ExitCode")


def job_kind(name: str) -> JobKind:
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise ValueError(f"job kind {name!r}: use one of {', '.join(JOB_KINDS)}") from None


def _metadata(name: str, namespace: str, labels: Mapping[str, str], pod: PodPlan) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    merged = {**pod.labels, **labels}
    if merged:
        meta["labels"] = merged
    return meta


def build_trainjob(
    pod: PodPlan,
    topology: Topology,
    *,
    name: str,
    namespace: str | None = None,
    runtime: str = "torch-distributed",
    runtime_kind: Literal["ClusterTrainingRuntime", "TrainingRuntime"] = "ClusterTrainingRuntime",
    labels: Mapping[str, str] | None = None,
    checkpoint_dir: str | None = None,
    replicated_job: str = "node",
    container: str = TRAINJOB.container,
    manager: str = "airflow-aiinfra",
    active_deadline_seconds: int | None = None,
) -> dict[str, Any]:
    """A Kubeflow Trainer v2 TrainJob: ``trainer`` carries image, command, env, nodes and per-node
    resources; everything else per pod goes in one runtime patch on the runtime's ``replicated_job``
    (``node`` in the torch runtimes) and its container ``container``."""
    if pod.priority_class:
        raise ValueError(
            f"priority_class {pod.priority_class!r} cannot be set on a TrainJob (its runtime patch has no "
            "priorityClassName): set it in the training runtime, or use `job: pytorchjob`"
        )
    parts = pod_parts(pod, extra_env=topology.env(checkpoint_dir=checkpoint_dir), expand_env_from=True)
    trainer: dict[str, Any] = {
        "image": pod.image,
        "command": cluster_command(pod.cmds, pod.args),
        "numNodes": topology.nodes,
        "numProcPerNode": topology.procs_per_node,
        "env": parts.env,
    }
    if parts.resources:
        trainer["resourcesPerNode"] = parts.resources
    pod_patch = pod_spec_fields(parts, pod)
    container_patch: dict[str, Any] = {"name": container}
    if parts.container_security:
        container_patch["securityContext"] = parts.container_security
    if parts.volume_mounts:
        container_patch["volumeMounts"] = parts.volume_mounts
    if len(container_patch) > 1:
        pod_patch["containers"] = [container_patch]
    pod_template: dict[str, Any] = {}
    if meta := template_metadata(parts, dict(labels or {})):
        pod_template["metadata"] = meta
    if pod_patch:
        pod_template["spec"] = pod_patch
    spec: dict[str, Any] = {
        "runtimeRef": {"name": runtime, "kind": runtime_kind, "apiGroup": TRAINJOB.group},
        "trainer": trainer,
    }
    if pod_template:
        spec["runtimePatches"] = [
            {
                "manager": manager,
                "trainingRuntimeSpec": {
                    "template": {
                        "spec": {
                            "replicatedJobs": [
                                {"name": replicated_job, "template": {"spec": {"template": pod_template}}},
                            ]
                        }
                    }
                },
            }
        ]
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    return {
        "apiVersion": TRAINJOB.api_version,
        "kind": TRAINJOB.kind,
        "metadata": _metadata(name, namespace or pod.namespace, labels or {}, pod),
        "spec": spec,
    }


def build_pytorchjob(
    pod: PodPlan,
    topology: Topology,
    *,
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    checkpoint_dir: str | None = None,
    restart_policy: str = "Never",
    backoff_limit: int = 0,
    active_deadline_seconds: int | None = None,
    ttl_seconds_after_finished: int | None = None,
) -> dict[str, Any]:
    """A Training Operator v1 PyTorchJob: one Master and ``nodes - 1`` Workers, each a full pod
    template with the stage's pod. ``cleanPodPolicy: None`` keeps finished pods so their logs can
    be read; deleting the job (on_finish_action) removes them."""
    if restart_policy not in RESTART_POLICIES:
        raise ValueError(f"restart_policy {restart_policy!r}: use one of {', '.join(RESTART_POLICIES)}")
    parts = pod_parts(pod, extra_env=topology.env(checkpoint_dir=checkpoint_dir))
    c: dict[str, Any] = {
        "name": PYTORCHJOB.container,
        "image": pod.image,
        "imagePullPolicy": pod.image_pull_policy,
        "command": cluster_command(pod.cmds, pod.args),
        **container_fields(parts),
    }
    template: dict[str, Any] = {"spec": {"containers": [c], **pod_spec_fields(parts, pod)}}
    if meta := template_metadata(parts, dict(labels or {})):
        template = {"metadata": meta, **template}
    replicas = {"Master": {"replicas": 1, "restartPolicy": restart_policy, "template": template}}
    if topology.nodes > 1:
        replicas["Worker"] = {
            "replicas": topology.nodes - 1,
            "restartPolicy": restart_policy,
            "template": template,
        }
    run_policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": backoff_limit}
    if active_deadline_seconds is not None:
        run_policy["activeDeadlineSeconds"] = active_deadline_seconds
    if ttl_seconds_after_finished is not None:
        run_policy["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    return {
        "apiVersion": PYTORCHJOB.api_version,
        "kind": PYTORCHJOB.kind,
        "metadata": _metadata(name, namespace or pod.namespace, labels or {}, pod),
        "spec": {
            "nprocPerNode": str(topology.procs_per_node),
            "pytorchReplicaSpecs": replicas,
            "runPolicy": run_policy,
        },
    }


def build_job(kind: JobKindName, pod: PodPlan, topology: Topology, **kwargs: Any) -> dict[str, Any]:
    """``build_trainjob`` or ``build_pytorchjob`` by the spec's ``job`` name."""
    builders = {"trainjob": build_trainjob, "pytorchjob": build_pytorchjob}
    job_kind(kind)
    return builders[kind](pod, topology, **kwargs)
