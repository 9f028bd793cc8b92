# ruff: noqa: F811 - the stand-in API fixtures are imported, then named as test arguments
"""Spec → DAG → operator against the stand-in Kubernetes API: the distributed stage's operator, as the DAG
factory builds it, creates one job per DAG run and task across tries (a worker restart mid-deferral
follows the job), renders the run's MLflow environment and checkpoint directory into every rank, records
the stage outcome only when the job ends, and fails with the job's reason. The Spark stage's operator
sends a SparkApplication the CRD accepts, named per DAG run and task."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_aiinfra.contract import XCOM_STAGE_OUTCOME
from airflow_aiinfra.kube.naming import job_name
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec_text
from airflow_aiinfra.wiring.dag import build_dag
from tests.operators.test_training_job import roundtrip, run_trigger
from tests.support import crds
from tests.support.fixtures import k8s_api, k8s_conn, kubeconfig  # noqa: F401 - pytest fixtures
from tests.support.k8s_api import FakeKubeAPI
from tests.support.k8s_jobs import job_lifecycle

DAG, RUN = "seed__pipeline", "scheduled__2024-06-01T00:00:00+00:00"
SPEC = """
name: seed
defaults: {{namespace: default, kubernetes_conn_id: {conn}}}
training_pipeline:
  stages:
    - name: model_training
      image: training:latest
      command: ["python", "train.py", "--epochs", "3"]
      resources: {{cpu: "4", memory: "16Gi", gpu: "2"}}
      distributed: {{framework: pytorch, nodes: 2, job: {job}}}
    - name: daily_totals
      image: spark:4.0.0
      spark: {{application: jobs/daily_totals.py, arguments: ["s3a://b/{{{{ ds }}}}/conf.json"], executors: 2,
              executor: {{cpu: "2", memory: 4Gi}}}}
experiment: {{name: seed, tracking_uri: "http://mlflow:5000"}}
"""


class TaskInstance:
    """What the operators read from a running task instance, and the XComs they push."""

    def __init__(self, task_id: str, try_number: int) -> None:
        self.dag_id, self.task_id, self.map_index, self.try_number = DAG, task_id, -1, try_number
        self.start_date = datetime.now(UTC)
        self.pushed: list[tuple[str, Any]] = []

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return {"return_value": "run-123", "tracking_uri": "http://mlflow:5000"}.get(key)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


def operator_from_spec(conn: str, task_id: str, try_number: int, job: str = "trainjob") -> tuple[Any, dict]:
    """The operator exactly as a worker gets it: spec → plan → DAG, templates rendered for this try."""
    (plan,) = [p for p in build_plans(load_spec_text(SPEC.format(conn=conn, job=job))) if p.dag_id == DAG]
    op = build_dag(plan).get_task(task_id)
    if hasattr(op, "poll_interval"):
        op.poll_interval = 0.05  # the spec's 30 s, shortened for the test
    ti = TaskInstance(task_id, try_number)
    context = {"ti": ti, "task_instance": ti, "run_id": RUN, "ds": "2024-06-01", "dag": op.dag}
    op.render_template_fields(context)
    return op, context


@pytest.fixture
def on_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "kubernetes")


def test_spec_built_trainjob_is_created_once_across_tries_and_followed(
    k8s_api: FakeKubeAPI, k8s_conn: str, on_cluster: None
) -> None:
    task_id = "training.model_training"
    name = job_name(DAG, task_id, RUN)
    k8s_api.script("trainjobs", job_lifecycle("TrainJob", running_polls=3, reason="JobsCompleted"))
    first, ctx1 = operator_from_spec(k8s_conn, task_id, 1)
    assert first.deferrable  # a job that trains for hours holds no worker slot
    with pytest.raises(TaskDeferred):
        first.execute(ctx1)
    assert ctx1["ti"].pushed == []  # a deferral is not an outcome
    # The worker dies while the task is deferred; the next try starts from scratch on another worker.
    second, ctx2 = operator_from_spec(k8s_conn, task_id, 2)
    with pytest.raises(TaskDeferred) as deferred:
        second.execute(ctx2)
    [post] = k8s_api.requests("POST", "/trainjobs$")  # one job for the run and task, not one per try
    event = run_trigger(roundtrip(deferred.value.trigger))
    assert event["status"] == "succeeded" and event["name"] == name
    second.execute_complete(ctx2, event)
    [(key, outcome)] = ctx2["ti"].pushed
    assert key == XCOM_STAGE_OUTCOME and outcome["state"] == "success" and outcome["try_number"] == 2
    assert [r.code for r in k8s_api.requests("DELETE", f"/trainjobs/{name}$")] == [200]

    body = post.body  # the stand-in server validated it against the TrainJob CRD (422 otherwise)
    assert crds.validate(body) == []
    trainer = body["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 2)
    per_node = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"}
    assert trainer["resourcesPerNode"] == {"requests": per_node, "limits": per_node}
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    assert (env["MLFLOW_TRACKING_URI"], env["MLFLOW_RUN_ID"]) == ("http://mlflow:5000", "run-123")
    assert env["AIINFRA_CHECKPOINT_DIR"] == f"checkpoints/seed/model_training/{RUN}"
    assert body["metadata"]["name"] == name
    assert body["metadata"]["labels"]["airflow.apache.org/task-id"] == task_id


def test_spec_built_pytorchjob_fails_the_task_with_the_jobs_reason(
    k8s_api: FakeKubeAPI, k8s_conn: str, on_cluster: None
) -> None:
    k8s_api.script("pytorchjobs", job_lifecycle("PyTorchJob", running_polls=1, outcome="Failed",
                                                reason="PyTorchJobFailed", message="worker 1 exited 137"))
    op, ctx = operator_from_spec(k8s_conn, "training.model_training", 1, job="pytorchjob")
    op.deferrable = False  # the non-deferrable path: the same loop in the worker
    with pytest.raises(AirflowException, match="PyTorchJob default/.* failed: PyTorchJobFailed: worker 1 exited 137"):
        op.execute(ctx)
    assert [outcome["state"] for _, outcome in ctx["ti"].pushed] == ["failed"]
    [post] = k8s_api.requests("POST", "/pytorchjobs$")
    replicas = post.body["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 1)
    assert len(k8s_api.requests("DELETE", "/pytorchjobs/")) == 1  # on_finish_action: delete_job


def test_spec_built_spark_operator_sends_a_valid_application_named_per_run(on_cluster: None) -> None:
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import CustomObjectLauncher

    op, _ = operator_from_spec("kubernetes_default", "training.daily_totals", 1)
    op.name = job_name(DAG, "training.daily_totals", RUN)  # what execute() sets before the provider's code
    assert op.create_job_name() == op.name  # no random suffix: every try finds the same application
    launcher = CustomObjectLauncher(name=op.name, namespace=op.namespace, kube_client=None,  # type: ignore[arg-type]
                                    custom_obj_api=None, template_body=op.template_body)  # type: ignore[arg-type]
    assert crds.validate(launcher.body) == []
    spec = launcher.body["spec"]
    assert spec["executor"]["instances"] == 2 and spec["executor"]["memory"] == "4096m"
    env = {e["name"]: e.get("value") for e in spec["driver"]["env"]}
    assert env["MLFLOW_RUN_ID"] == "run-123"  # rendered for this run, as in every rank of a training job
    assert spec["arguments"] == ["s3a://b/2024-06-01/conf.json"]  # a string, not a template file to load
