"""``training_pipeline``: stages that become Kubernetes pods (or local subprocesses)."""

from __future__ import annotations

import shlex
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from airflow_aiinfra.spec.model.distributed import Distributed, Spark
from airflow_aiinfra.spec.model.pod import GpuVendor, SecurityContext
from airflow_aiinfra.spec.types import (
    AnnotationMap,
    CpuQuantity,
    Duration,
    EnvMap,
    EnvName,
    GpuCount,
    K8sLabelName,
    K8sObjectName,
    LabelKey,
    LabelMap,
    LabelValue,
    MemQuantity,
    MountPath,
    Name,
    SecretKey,
    Strict,
    TemplatedStr,
    exactly_one,
    shown,
)


class ResourceMap(Strict):
    """Explicit requests or limits, overriding the plain ``cpu``/``memory`` values."""

    cpu: CpuQuantity | None = None
    memory: MemQuantity | None = None
    ephemeral_storage: MemQuantity | None = None


class Resources(Strict):
    """What a stage's pod gets. Plain cpu/memory set requests and equal limits."""

    cpu: CpuQuantity | None = None
    memory: MemQuantity | None = None
    gpu: GpuCount = 0
    gpu_vendor: GpuVendor | None = Field(None, description="Defaults to defaults.gpu_vendor (nvidia).")
    requests: ResourceMap | None = None
    limits: ResourceMap | None = None
    ephemeral_storage: MemQuantity | None = None
    shm_size: MemQuantity | None = Field(None, description="Size of /dev/shm (PyTorch DataLoader workers).")


class SecretRef(Strict):
    """A Kubernetes Secret exposed to the stage; its value never appears in the spec."""

    secret: K8sObjectName = Field(description="Name of the Kubernetes Secret.")
    key: SecretKey | None = Field(None, description="Key inside the Secret; omit with `env` to expose all keys.")
    env: EnvName | None = Field(None, description="Expose as this env var.")
    mount_path: MountPath | None = Field(None, description="Or mount the Secret as files here.")

    @model_validator(mode="after")
    def _one_target(self) -> SecretRef:
        exactly_one(self, {"env": "an environment variable", "mount_path": "files"})
        return self


class EmptyDir(Strict):
    medium: Literal["", "Memory"] = ""
    size_limit: MemQuantity | None = None


class Volume(Strict):
    """A volume mounted into the stage: exactly one of pvc, config_map, secret, empty_dir."""

    name: K8sLabelName
    mount_path: MountPath
    read_only: bool = False
    sub_path: str | None = Field(None, max_length=1024, description="A relative path inside the volume.")
    pvc: K8sObjectName | None = None
    config_map: K8sObjectName | None = None
    secret: K8sObjectName | None = None
    empty_dir: EmptyDir | None = None

    @field_validator("sub_path")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/") or "\0" in value):
            raise ValueError(f"sub_path {shown(value)} must be a relative path inside the volume, without '..' "
                             "(e.g. 'team-a/checkpoints')")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        exactly_one(self, {"pvc": "", "config_map": "", "secret": "", "empty_dir": ""})
        return self


class Toleration(Strict):
    """A Kubernetes toleration, with the API server's own rules checked here."""

    key: LabelKey | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0, le=31_536_000)

    @model_validator(mode="after")
    def _semantics(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists matches any value: remove 'value' (or use operator Equal)")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without 'key' must use operator Exists (it then tolerates every taint)")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds applies only to effect NoExecute; set effect: NoExecute or "
                             "remove toleration_seconds")
        return self


def _command(value: Any) -> Any:
    """``command: "python train.py --lr 0.1"`` is split like a shell would; lists pass through."""
    return shlex.split(value) if isinstance(value, str) else value


Command = Annotated[list[TemplatedStr], BeforeValidator(_command, json_schema_input_type=str | list[str])]


class Stage(Strict):
    """One step of the pipeline (one Airflow task): one pod, a distributed job (``distributed``) or a Spark
    application (``spark``)."""

    name: Name
    image: TemplatedStr
    command: Command | None = Field(None, description="Entrypoint override; the image's own otherwise.")
    args: Command | None = None
    env: EnvMap = Field(default_factory=dict)
    secrets: list[SecretRef] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    volumes: list[Volume] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    retries: int | None = Field(None, ge=0, le=20)
    retry_delay: Duration | None = None
    timeout: Duration | None = Field(None, description="Execution timeout of the stage's task.")
    node_selector: LabelMap = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: dict[str, Any] | None = Field(None, description="A Kubernetes V1Affinity, as YAML.")
    priority_class: K8sObjectName | None = None
    pool: str | None = Field(None, min_length=1, max_length=256,
                             description="Airflow pool; GPU stages default to defaults.gpu_pool.")
    labels: LabelMap = Field(default_factory=dict)
    annotations: AnnotationMap = Field(default_factory=dict)
    security_context: SecurityContext | None = None
    distributed: Distributed | None = Field(None, description="Train on several pods at once (resources per node).")
    spark: Spark | None = Field(None, description="Run a Spark application instead of a pod.")

    @field_validator("affinity")
    @classmethod
    def _affinity(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_affinity(value)

    @property
    def job_gpus(self) -> int:
        """GPUs the whole stage holds at once: nodes × GPUs per node for a distributed job, the driver's and
        the most executors' for Spark, the pod's otherwise."""
        if self.distributed is not None:
            return self.distributed.nodes * self.resources.gpu
        if self.spark is not None:
            return self.spark.driver.gpu + self.spark.executors.most * self.spark.executor.gpu
        return self.resources.gpu

    def pool_name(self, default_gpu_pool: str) -> str | None:
        """The Airflow pool the stage's task draws from: its own, else GPU stages share the default GPU pool."""
        return (self.pool or default_gpu_pool) if self.job_gpus else self.pool

    @property
    def pool_slots(self) -> int:
        """Slots the task takes from its pool: one per GPU of the whole job, so a pool sized to the cluster's
        GPUs bounds them (the one rule: the spec check, the plan and ``aiinfra pools`` use it)."""
        return max(self.job_gpus, 1)


_AFFINITY_KEYS = ("nodeAffinity", "podAffinity", "podAntiAffinity")


def check_affinity(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Kubernetes client itself checks the affinity (imported only for specs that have one), so a bad
    one is a spec error instead of a DAG that fails to build."""
    if value is None:
        return value
    unknown = [k for k in value if k not in _AFFINITY_KEYS]
    if unknown:
        raise ValueError(f"unknown affinity key(s) {unknown}; use {', '.join(_AFFINITY_KEYS)} (camelCase, as in Kubernetes)")
    from airflow_aiinfra.kube.client_models import from_yaml

    try:
        from_yaml(value, "V1Affinity")
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"not a valid Kubernetes affinity: {exc}") from None
    return value


class TrainingPipeline(Strict):
    stages: list[Stage] = Field(min_length=1)
