"""A stage's ``distributed:`` (many pods training as one) and ``spark:`` (a Spark application) sections.

Plain validated data: the cross-field rules (parallelism adds up, processes fit the GPUs, a stage is one
kind only) are in ``spec/checks/distributed.py``, where they can name the stage's other fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from airflow_aiinfra.spec.types import CpuQuantity, EnvValue, GpuCount, MemQuantity, Strict, TemplatedStr

MAX_NODES = 1024
MAX_PROCS_PER_NODE = 64  # the largest GPU nodes have 8-16 devices; 64 leaves room for CPU-only ranks
MAX_EXECUTORS = 1000


class Parallelism(Strict):
    """Hybrid parallelism degrees; their product must equal nodes × procs_per_node."""

    data: int = Field(1, ge=1, le=MAX_NODES * MAX_PROCS_PER_NODE)
    tensor: int = Field(1, ge=1, le=MAX_NODES * MAX_PROCS_PER_NODE)
    pipeline: int = Field(1, ge=1, le=MAX_NODES * MAX_PROCS_PER_NODE)


class Distributed(Strict):
    """Run the stage's command under PyTorch's launcher on ``nodes`` pods; ``resources`` are per node."""

    framework: Literal["pytorch"] = Field(description="The launcher: torchrun (PyTorch's elastic launcher).")
    nodes: int = Field(ge=1, le=MAX_NODES, description="Pods (machines) of the job.")
    procs_per_node: int | None = Field(
        None, ge=1, le=MAX_PROCS_PER_NODE, description="Processes per node. Default: the stage's GPUs, else 1."
    )
    backend: Literal["nccl", "gloo"] | None = Field(None, description="Default: nccl with GPUs, gloo without.")
    job: Literal["trainjob", "pytorchjob"] = Field(
        "trainjob", description="trainjob: Kubeflow Trainer v2 TrainJob; pytorchjob: Training Operator v1."
    )
    runtime: str | None = Field(
        None, min_length=1, description="TrainJob only: the ClusterTrainingRuntime (default torch-distributed)."
    )
    parallelism: Parallelism | None = None
    checkpoint_dir: TemplatedStr = Field(
        "checkpoints",
        min_length=1,
        description="Base folder of the per-run checkpoint directory <base>/<spec>/<stage>/<run_id> "
        "($AIINFRA_CHECKPOINT_DIR): mount shared storage there on a cluster; relative to the bundle root locally.",
    )

    def procs(self, gpu: int) -> int:
        return self.procs_per_node if self.procs_per_node is not None else (gpu if gpu > 0 else 1)

    def backend_for(self, gpu: int) -> str:
        return self.backend or ("nccl" if gpu > 0 else "gloo")


class SparkResources(Strict):
    """The driver's or each executor's resources (Kubernetes quantities)."""

    cpu: CpuQuantity = "1"
    memory: MemQuantity = "1Gi"
    memory_overhead: MemQuantity | None = Field(
        None, description="Added to memory by the Spark operator (default 10 % JVM, 40 % Python): pin it here."
    )
    gpu: GpuCount = 0


def _executors(value: Any) -> Any:
    """``executors: 4`` is a fixed count; ``{min: 1, max: 10}`` a dynamic-allocation range."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_EXECUTORS:
            raise ValueError(
                f"{value} executors: use a count from 1 to {MAX_EXECUTORS}, or a range such as {{min: 1, max: 10}}"
            )
        return {"count": value}
    return value


class Executors(Strict):
    count: int | None = Field(None, ge=1, le=MAX_EXECUTORS)
    # at least 1: the provider's SparkKubernetesOperator refuses a dynamic range with minExecutors 0
    min: int | None = Field(None, ge=1, le=MAX_EXECUTORS)
    max: int | None = Field(None, ge=1, le=MAX_EXECUTORS)

    @model_validator(mode="after")
    def _count_or_range(self) -> Executors:
        ranged = self.min is not None or self.max is not None
        if (self.count is not None) == ranged:
            raise ValueError("give a count (executors: 4) or a dynamic-allocation range (executors: {min: 1, max: 10})")
        if ranged and (self.min is None or self.max is None or self.min > self.max):
            raise ValueError(f"range min={self.min} max={self.max}: give both, with min <= max")
        return self

    @property
    def most(self) -> int:
        return self.count if self.count is not None else self.max or 0


class Spark(Strict):
    """Run the stage as a SparkApplication (cluster) or ``spark-submit --master local[N]`` (laptop).

    The stage's ``image`` is the Spark image; its env, secrets, volumes and placement reach driver and
    executors."""

    application: str = Field(
        min_length=1,
        description="Main file: relative to the bundle root locally and to /opt/spark/work-dir in the image, "
        "or a URI (local:///opt/app/job.py, s3a://...).",
    )
    arguments: list[TemplatedStr] = Field(default_factory=list)
    type: Literal["Python", "Scala", "Java", "R"] = "Python"
    main_class: str | None = Field(None, description="Scala/Java applications: the class with main().")
    driver: SparkResources = Field(default_factory=SparkResources)
    executor: SparkResources = Field(default_factory=SparkResources)
    executors: Annotated[Executors, BeforeValidator(_executors, json_schema_input_type=int | Executors)] = Field(
        default_factory=lambda: Executors(count=1)
    )
    conf: dict[str, EnvValue] = Field(default_factory=dict, description="Spark configuration (spark.* keys).")
    spark_version: str = Field("4.0.0", min_length=1)
