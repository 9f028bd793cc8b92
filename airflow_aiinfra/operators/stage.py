"""The training stage operator: a KubernetesPodOperator that can also run locally."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from airflow_aiinfra import config
from airflow_aiinfra.operators.pipeline_run import MlflowRunLink, stage_outcome


class StageOperator(KubernetesPodOperator):
    """A training stage. ``[aiinfra] runner`` picks, at run time, between a pod (``kubernetes``)
    and a subprocess on the worker (``local``), so the same DAG runs on a cluster and a laptop.

    Its outcome (state, duration, try) is pushed as an XCom for ``mlflow.end_run`` to log: a stage task
    imports no MLflow, Feast or Great Expectations, so a fresh task process starts as fast as a plain one.

    :param gpu_count: GPUs the stage asked for (the local runner sets ``CUDA_VISIBLE_DEVICES`` from it).
    :param local_cwd: where the local runner runs the command: the DAG bundle's root.
    :param record_outcome: push the outcome for ``mlflow.end_run`` (the DAG has an experiment).
    """

    ui_color = "#e8f0fe"
    operator_extra_links = (MlflowRunLink(),)

    def __init__(self, *, gpu_count: int = 0, local_cwd: str | None = None, record_outcome: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gpu_count = gpu_count
        self.local_cwd = local_cwd
        self.record_outcome = record_outcome
        self._local_run: Any = None

    def execute(self, context: Any) -> Any:
        if not self.record_outcome:
            return self._run(context)
        with stage_outcome(context):
            return self._run(context)

    def _run(self, context: Any) -> Any:
        if config.runner() == "local":
            from airflow_aiinfra.operators.local_runner import LocalStageRun

            self._local_run = LocalStageRun(self)
            return self._local_run.run(context)
        return super().execute(context)

    def on_kill(self) -> None:
        if self._local_run is not None:
            self._local_run.kill()
            return
        super().on_kill()
