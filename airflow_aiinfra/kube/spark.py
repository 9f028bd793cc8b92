"""A Spark stage → a SparkApplication (sparkoperator.k8s.io/v1beta2) for the provider's own
SparkKubernetesOperator, as a plain dict.

Driver and executors get the stage pod's env, secrets, volumes, node selector, tolerations,
affinity and security contexts; their CPU and memory are the declared ones. Kubernetes
quantities become Spark's units: memory in MiB (``"16Gi"`` → ``"16384m"``), ``cores`` the
whole CPUs (at least 1) with the exact quantity as ``coreRequest``/``coreLimit``. Note that
the Spark operator adds ``memoryOverhead`` (default 10 % for JVM, 40 % for Python) to the
pod's memory on top of ``memory``: pass ``memory_overhead`` to pin it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_aiinfra.kube.podspec import pod_parts
from airflow_aiinfra.plan.model import PodPlan

SPARK_GROUP, SPARK_VERSION, SPARK_PLURAL, SPARK_KIND = (
    "sparkoperator.k8s.io",
    "v1beta2",
    "sparkapplications",
    "SparkApplication",
)
APP_TYPES = ("Python", "Scala", "Java", "R")

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|K|M|G|T|P|m)?$")
_FACTOR = {
    None: 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}


def memory_bytes(quantity: str) -> int:
    m = _QUANTITY.match(str(quantity).strip())
    if not m or m.group(2) == "m":
        raise ValueError(
            f"memory {quantity!r} is not a Kubernetes memory quantity: use e.g. '4Gi' or '512Mi'"
        )
    return math.ceil(float(m.group(1)) * _FACTOR[m.group(2)])


def spark_memory(quantity: str) -> str:
    """A Kubernetes memory quantity in Spark's notation (MiB, rounded up): '16Gi' → '16384m'."""
    return f"{math.ceil(memory_bytes(quantity) / 2**20)}m"


def cpu_value(quantity: str) -> float:
    text = str(quantity).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ValueError(
            f"cpu {quantity!r} is not a Kubernetes CPU quantity: use e.g. '2' or '500m'"
        ) from None


@dataclass(frozen=True)
class SparkRole:
    """Resources of the driver or of each executor, as declared (Kubernetes quantities)."""

    cpu: str = "1"
    memory: str = "1Gi"
    memory_overhead: str | None = None
    gpu: int = 0
    gpu_resource: str = "nvidia.com/gpu"

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cores": max(1, int(cpu_value(self.cpu))),
            "coreRequest": str(self.cpu),
            "coreLimit": str(self.cpu),
            "memory": spark_memory(self.memory),
        }
        if self.memory_overhead:
            out["memoryOverhead"] = spark_memory(self.memory_overhead)
        if self.gpu:
            out["gpu"] = {"name": self.gpu_resource, "quantity": self.gpu}
        return out


@dataclass(frozen=True)
class Executors:
    """A fixed count, or a dynamic-allocation range ``min_count..max_count``."""

    count: int | None = None
    min_count: int | None = None
    max_count: int | None = None

    def __post_init__(self) -> None:
        fixed = self.count is not None
        ranged = self.min_count is not None or self.max_count is not None
        if fixed == ranged:
            raise ValueError("executors: give either a count or a min/max range, not both or neither")
        if fixed and self.count < 1:  # type: ignore[operator]
            raise ValueError(f"executors count {self.count!r}: use a whole number >= 1")
        if ranged and not (
            self.min_count is not None
            and self.max_count is not None
            and 0 <= self.min_count <= self.max_count
            and self.max_count >= 1
        ):
            raise ValueError(
                f"executors range {self.min_count!r}..{self.max_count!r}: use 0 <= min <= max, max >= 1"
            )

    @property
    def initial(self) -> int:
        return self.count if self.count is not None else max(1, self.min_count or 0)


def _role(parts: Any, pod: PodPlan, role: SparkRole, labels: Mapping[str, str]) -> dict[str, Any]:
    out = role.fields()
    if parts.env:
        out["env"] = parts.env
    if parts.env_from:
        out["envFrom"] = parts.env_from
    if parts.volume_mounts:
        out["volumeMounts"] = parts.volume_mounts
    if parts.node_selector:
        out["nodeSelector"] = parts.node_selector
    if parts.tolerations:
        out["tolerations"] = parts.tolerations
    if parts.affinity:
        out["affinity"] = parts.affinity
    if parts.pod_security:
        out["podSecurityContext"] = parts.pod_security
    if parts.container_security:
        out["securityContext"] = parts.container_security
    if merged := {**parts.labels, **labels}:
        out["labels"] = merged
    if parts.annotations:
        out["annotations"] = parts.annotations
    if pod.priority_class:
        out["priorityClassName"] = pod.priority_class
    if pod.service_account:
        out["serviceAccount"] = pod.service_account
    return out


def build_spark_application(
    pod: PodPlan,
    *,
    name: str,
    main_application_file: str,
    driver: SparkRole,
    executor: SparkRole,
    executors: Executors,
    conf: Mapping[str, str] | None = None,
    arguments: Sequence[str] = (),
    app_type: str = "Python",
    main_class: str | None = None,
    spark_version: str = "4.0.0",
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The SparkApplication for a stage whose pod template is ``pod`` (image, env, secrets, ...).

    ``restartPolicy: Never``: Airflow owns retries."""
    if not main_application_file:
        raise ValueError("a spark stage needs `application` (the main file, e.g. local:///opt/app/job.py)")
    if app_type not in APP_TYPES:
        raise ValueError(f"spark type {app_type!r}: use one of {', '.join(APP_TYPES)}")
    if app_type in ("Scala", "Java") and not main_class:
        raise ValueError(f"a {app_type} spark application needs `main_class`")
    parts = pod_parts(pod)
    labels = dict(labels or {})
    spec: dict[str, Any] = {
        "type": app_type,
        "mode": "cluster",
        "image": pod.image,
        "imagePullPolicy": pod.image_pull_policy,
        "mainApplicationFile": main_application_file,
        "sparkVersion": spark_version,
        "restartPolicy": {"type": "Never"},
        "driver": _role(parts, pod, driver, labels),
        "executor": {**_role(parts, pod, executor, labels), "instances": executors.initial},
    }
    if app_type == "Python":
        spec["pythonVersion"] = "3"
    if main_class:
        spec["mainClass"] = main_class
    if arguments:
        spec["arguments"] = [str(a) for a in arguments]
    if conf:
        spec["sparkConf"] = {str(k): str(v) for k, v in conf.items()}
    if executors.count is None:
        spec["dynamicAllocation"] = {
            "enabled": True,
            "initialExecutors": executors.initial,
            "minExecutors": executors.min_count,
            "maxExecutors": executors.max_count,
            "shuffleTrackingEnabled": True,  # Kubernetes has no external shuffle service
        }
    if parts.volumes:
        spec["volumes"] = parts.volumes
    if pod.image_pull_secrets:
        spec["imagePullSecrets"] = list(pod.image_pull_secrets)
    meta: dict[str, Any] = {"name": name, "namespace": namespace or pod.namespace}
    if merged := {**pod.labels, **labels}:
        meta["labels"] = merged
    return {
        "apiVersion": f"{SPARK_GROUP}/{SPARK_VERSION}",
        "kind": SPARK_KIND,
        "metadata": meta,
        "spec": spec,
    }


def spark_operator_kwargs(
    application: dict[str, Any],
    *,
    kubernetes_conn_id: str = "kubernetes_default",
    delete_on_termination: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for the provider's ``SparkKubernetesOperator`` that submit ``application``
    under its own (deterministic) name."""
    meta = application["metadata"]
    return {
        "template_spec": {"spark": application},
        "name": meta["name"],
        "namespace": meta["namespace"],
        "random_name_suffix": False,
        "kubernetes_conn_id": kubernetes_conn_id,
        "delete_on_termination": delete_on_termination,
        "get_logs": True,
    }
