"""A distributed training stage: its TrainJob / PyTorchJob on a cluster, torchrun on the worker locally.

``[aiinfra] runner`` decides when the task runs (as for single-pod stages, operators/stage.py), so one DAG
runs on a cluster and on a laptop. On a cluster this is ``TrainingJobOperator`` (deferrable by default: a
job that trains for hours holds no worker slot); locally ``runners.torchrun.LocalTorchRun`` starts one
torchrun agent per simulated node with the same topology, command and environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_aiinfra import config
from airflow_aiinfra.contract import TopologyDef
from airflow_aiinfra.operators.pipeline_run import MlflowRunLink, stage_outcome
from airflow_aiinfra.operators.training_job import TrainingJobOperator

LOCAL_NOTE = ("the job's image, per-node resources, Kubernetes secrets, volumes and placement do not apply: "
              "the command runs in the worker's environment")


class DistributedJobOperator(TrainingJobOperator):
    """A ``distributed:`` stage (the plan's ``DistributedJobPayload``).

    :param command: the stage's command (``python train.py ...``), put under torchrun locally.
    :param topology: nodes, procs_per_node, backend and parallelism (``contract.TopologyDef``).
    :param env: the stage's env (templated), without Kubernetes secrets: what the local ranks get.
    :param gpu_count: GPUs per node (``CUDA_VISIBLE_DEVICES`` locally).
    :param checkpoint_dir: this DAG run's checkpoint directory (templated; ``AIINFRA_CHECKPOINT_DIR``).
    :param local_cwd: where the local runner runs the command: the DAG bundle's root.
    :param record_outcome: push the outcome for ``mlflow.end_run`` (the DAG has an experiment).
    """

    template_fields = (*TrainingJobOperator.template_fields, "command", "env", "checkpoint_dir")
    operator_extra_links = (MlflowRunLink(),)

    def __init__(
        self,
        *,
        command: list[str] | None = None,
        topology: TopologyDef | None = None,
        env: dict[str, str] | None = None,
        gpu_count: int = 0,
        checkpoint_dir: str | None = None,
        local_cwd: str | None = None,
        record_outcome: bool = False,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(deferrable=deferrable, **kwargs)
        self.command = list(command or [])
        self.topology = topology or TopologyDef(nodes=1, procs_per_node=1, backend="gloo", parallelism=None)
        self.env = dict(env or {})
        self.gpu_count = gpu_count
        self.checkpoint_dir = checkpoint_dir
        self.local_cwd = local_cwd
        self.record_outcome = record_outcome
        self._local_run: Any = None

    def execute(self, context: Any) -> Any:
        run: Callable[[Any], Any] = self._run_local if config.runner() == "local" else super().execute
        if not self.record_outcome:
            return run(context)
        with stage_outcome(context):
            return run(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        if not self.record_outcome:
            return super().execute_complete(context, event)
        with stage_outcome(context, resumed=True):
            return super().execute_complete(context, event)

    def _run_local(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from airflow_aiinfra.distributed.topology import Parallelism, Topology
        from airflow_aiinfra.errors import LocalRunError
        from airflow_aiinfra.operators.local_runner import log_trust_once, stage_env
        from airflow_aiinfra.operators.samples import MaskedLog
        from airflow_aiinfra.runners.torchrun import LocalTorchRun

        t = self.topology
        p = t.get("parallelism")
        cap = config.max_local_procs()
        try:
            topology = Topology(nodes=t["nodes"], procs_per_node=t["procs_per_node"],
                                backend=t["backend"],  # type: ignore[arg-type]
                                parallelism=Parallelism(**p) if p else None)
            self._local_run = LocalTorchRun(
                cmds=self.command, topology=topology, env=stage_env(self.env, self.gpu_count),
                log=MaskedLog(self.log),
                cwd=self.local_cwd, gpu=self.gpu_count, checkpoint_dir=self.checkpoint_dir, max_local_procs=cap)
        except ValueError as exc:  # a topology the local cap cannot keep, a command torchrun cannot run
            raise AirflowFailException(f"distributed stage {self.task_id!r} cannot run locally: {exc}") from exc
        log_trust_once(self.log)
        self.log.warning("local runner: %s", LOCAL_NOTE)
        self.log.info("local runner: [aiinfra] max_local_procs = %d; checkpoints in %s", cap, self.checkpoint_dir)
        try:
            self._local_run.run()
        except LocalRunError as exc:
            raise AirflowException(f"distributed stage {self.task_id!r}: {exc}") from exc

    def on_kill(self) -> None:
        if self._local_run is not None:
            self._local_run.kill()
            return
        super().on_kill()
