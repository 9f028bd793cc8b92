"""A Spark stage: the provider's own SparkKubernetesOperator on a cluster, a local Spark on a laptop.

Subclassed only to add what the provider does not have: the local runner (``[aiinfra] runner = local``,
decided when the task runs, as for single-pod stages), a SparkApplication name that is the same for every
try of a task in a DAG run (``kube.naming.job_name``; the provider's reattach logic then finds the driver
of an earlier try), and the stage outcome for ``mlflow.end_run``.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

from airflow_aiinfra import config
from airflow_aiinfra.contract import ExecutorsDef, SparkRoleDef
from airflow_aiinfra.operators.pipeline_run import MlflowRunLink, stage_outcome


class SparkStageOperator(SparkKubernetesOperator):
    """A ``spark:`` stage (the plan's ``SparkPayload``); cluster arguments are the provider's.

    :param application: the main file as the spec gives it, run by ``spark-submit`` locally.
    :param application_args: its arguments (templated).
    :param spark_conf: Spark configuration for the local session.
    :param driver_resources: / :param executor_resources: declared resources (``kube.spark.SparkRole``).
    :param executors: a count or a dynamic-allocation range (``kube.spark.Executors``).
    :param env: the stage's env (templated), without Kubernetes secrets: what the local application gets.
    :param local_cwd: where the local runner runs: the DAG bundle's root.
    :param record_outcome: push the outcome for ``mlflow.end_run`` (the DAG has an experiment).
    """

    template_fields = [*SparkKubernetesOperator.template_fields, "application", "application_args", "env"]
    # The provider treats any templated string ending in .yaml/.yml/.json as a template *file* to load (for its
    # application_file); the application always comes as template_spec here, so an argument such as
    # "s3a://bucket/conf.json" must stay a string.
    template_ext: tuple[str, ...] = ()
    operator_extra_links = (MlflowRunLink(),)

    def __init__(
        self,
        *,
        application: str,
        application_args: list[str] | None = None,
        spark_conf: dict[str, str] | None = None,
        driver_resources: SparkRoleDef | None = None,
        executor_resources: SparkRoleDef | None = None,
        executors: ExecutorsDef | None = None,
        env: dict[str, str] | None = None,
        local_cwd: str | None = None,
        record_outcome: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.application = application
        self.application_args = list(application_args or [])
        self.spark_conf = dict(spark_conf or {})
        self.driver_resources = driver_resources
        self.executor_resources = executor_resources
        self.executors = executors or ExecutorsDef(count=1, min_count=None, max_count=None)
        self.env = dict(env or {})
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
            return self._run_local()
        from airflow_aiinfra.kube.naming import job_name

        ti = context["ti"]
        index = getattr(ti, "map_index", None)
        self.name = job_name(ti.dag_id, ti.task_id, context["run_id"], -1 if index is None else int(index))
        return super().execute(context)

    def _run_local(self) -> str:
        from airflow.sdk.exceptions import AirflowException

        from airflow_aiinfra.errors import LocalRunError
        from airflow_aiinfra.kube.spark import Executors, SparkRole
        from airflow_aiinfra.operators.local_runner import log_trust_once, stage_env
        from airflow_aiinfra.operators.samples import MaskedLog
        from airflow_aiinfra.runners.spark import LocalSparkRun

        log_trust_once(self.log)
        role = {"cpu": "1", "memory": "1Gi"}
        self._local_run = LocalSparkRun(
            application=self.application,
            arguments=self.application_args,
            conf=self.spark_conf,
            driver=SparkRole(**(self.driver_resources or role)),  # type: ignore[arg-type]
            executor=SparkRole(**(self.executor_resources or role)),  # type: ignore[arg-type]
            executors=Executors(**self.executors),
            env=stage_env(self.env, 0),
            log=MaskedLog(self.log),
            cwd=self.local_cwd,
            app_name=self.task_id,
        )
        try:
            return self._local_run.run()
        except LocalRunError as exc:
            raise AirflowException(f"spark stage {self.task_id!r}: {exc}") from exc

    def on_kill(self) -> None:
        if self._local_run is not None:
            self._local_run.kill()
            return
        super().on_kill()
