"""A distributed stage's topology and the environment every rank gets from it.

The strategy (DDP, FSDP, DeepSpeed, Megatron) is the training code's business; the topology
says how many processes there are and how the hybrid parallelism splits them, and checks
that it adds up. The code reads it from documented environment variables (ENV_DOC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from airflow_aiinfra.contract import DISTRIBUTED_ENV

Backend = Literal["nccl", "gloo"]
BACKENDS: tuple[str, ...] = ("nccl", "gloo")

# What every rank finds in its environment, beside the launcher's own RANK/LOCAL_RANK/MASTER_*. The names are
# spelled once, in the contract, whose RESERVED_ENV keeps a stage's own env from setting them.
ENV_DOC: dict[str, str] = DISTRIBUTED_ENV


@dataclass(frozen=True)
class Parallelism:
    """Hybrid parallelism degrees; their product must equal the world size."""

    data: int = 1
    tensor: int = 1
    pipeline: int = 1

    @property
    def product(self) -> int:
        return self.data * self.tensor * self.pipeline


@dataclass(frozen=True)
class Topology:
    """``nodes`` pods (or simulated nodes) × ``procs_per_node`` processes each.

    ``parallelism`` defaults to pure data parallelism over all processes."""

    nodes: int
    procs_per_node: int = 1
    backend: Backend = "gloo"
    parallelism: Parallelism | None = None

    def __post_init__(self) -> None:
        for name in ("nodes", "procs_per_node"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"topology {name} = {value!r}: use a whole number >= 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"topology backend = {self.backend!r}: use one of {', '.join(BACKENDS)}")
        p = self.parallelism
        if p is not None and p.product != self.world_size:
            raise ValueError(
                f"parallelism data={p.data} × tensor={p.tensor} × pipeline={p.pipeline} = {p.product}, but the "
                f"world size is nodes={self.nodes} × procs_per_node={self.procs_per_node} = {self.world_size}: "
                "make the product of the three equal the world size"
            )

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node

    @property
    def degrees(self) -> Parallelism:
        return self.parallelism or Parallelism(data=self.world_size)

    def env(self, *, checkpoint_dir: str | None = None, backend: str | None = None) -> dict[str, str]:
        """The environment of every rank (ENV_DOC). ``backend`` overrides, e.g. gloo on a laptop."""
        d = self.degrees
        env = {
            "WORLD_SIZE": str(self.world_size),
            "NPROC_PER_NODE": str(self.procs_per_node),
            "AIINFRA_NNODES": str(self.nodes),
            "AIINFRA_BACKEND": backend or self.backend,
            "AIINFRA_PARALLEL_DATA": str(d.data),
            "AIINFRA_PARALLEL_TENSOR": str(d.tensor),
            "AIINFRA_PARALLEL_PIPELINE": str(d.pipeline),
        }
        if checkpoint_dir:
            env["AIINFRA_CHECKPOINT_DIR"] = checkpoint_dir
        return env

    def mlflow_params(self) -> dict[str, str]:
        """The topology as MLflow params (``distributed.*``), logged once per run."""
        d = self.degrees
        return {
            "distributed.nodes": str(self.nodes),
            "distributed.procs_per_node": str(self.procs_per_node),
            "distributed.world_size": str(self.world_size),
            "distributed.backend": self.backend,
            "distributed.parallel_data": str(d.data),
            "distributed.parallel_tensor": str(d.tensor),
            "distributed.parallel_pipeline": str(d.pipeline),
        }


def default_procs_per_node(gpu: int) -> int:
    """One process per GPU, else one: torchrun's own convention."""
    return gpu if gpu > 0 else 1


def default_backend(gpu: int) -> Backend:
    return "nccl" if gpu > 0 else "gloo"
