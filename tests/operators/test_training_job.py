# ruff: noqa: F811 - the stand-in API fixtures are imported, then named as test arguments
"""TrainingJobOperator against the stand-in Kubernetes API: one job per DAG run and task across
retries, polling until it ends, rank logs in the task log, the failure reason, clean-up, and a
worker restart during the deferral that reattaches instead of creating a second job."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from airflow_aiinfra.distributed.topology import Topology
from airflow_aiinfra.kube.jobs import build_pytorchjob, build_trainjob
from airflow_aiinfra.kube.naming import job_name
from airflow_aiinfra.operators.training_job import TrainingJobOperator
from airflow_aiinfra.triggers.training_job import TrainingJobTrigger
from tests.support.fixtures import k8s_api, k8s_conn, kubeconfig  # noqa: F401 - pytest fixtures
from tests.support.k8s_api import FakeKubeAPI
from tests.support.k8s_jobs import job_lifecycle, job_status
from tests.support.pods import seed_training_pod

TJ = "trainer.kubeflow.org/v1alpha1"
PT = "kubeflow.org/v1"
DAG, TASK, RUN = "seed_training", "training.model_training", "manual__2024-06-01T00:00:00+00:00"
NAME = job_name(DAG, TASK, RUN)


def context(try_number: int = 1) -> dict[str, Any]:
    """What the operator reads from an Airflow context: the task instance's identity and the run id."""
    ti = SimpleNamespace(dag_id=DAG, task_id=TASK, map_index=-1, try_number=try_number)
    return {"ti": ti, "task_instance": ti, "run_id": RUN}


def operator(conn: str, body: dict, **kw: Any) -> TrainingJobOperator:
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("delete_wait_seconds", 5)
    return TrainingJobOperator(task_id=TASK, body=body, kubernetes_conn_id=conn, **kw)


def trainjob(nodes: int = 2) -> dict:
    return build_trainjob(
        seed_training_pod(namespace="default"), Topology(nodes=nodes, procs_per_node=2), name="x"
    )


def add_trainjob_pods(api: FakeKubeAPI, name: str, *, failed_rank: int | None = None, nodes: int = 2) -> None:
    for rank in range(nodes):
        failed = rank == failed_rank
        api.add_pod(
            f"{name}-node-0-{rank}-abcde",
            labels={
                "jobset.sigs.k8s.io/jobset-name": name,
                "batch.kubernetes.io/job-completion-index": str(rank),
            },
            phase="Failed" if failed else "Running",
            owner=("trainjobs", name),
            logs={
                "node": f"rank {rank} epoch 1 loss 0.5\n"
                + ("RuntimeError: rank 1 ran out of memory\n" if failed else f"rank {rank} done\n")
            },
        )


def run_trigger(trigger: TrainingJobTrigger) -> dict[str, Any]:
    """Run the trigger's real async loop to its first event (as the triggerer does)."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout=30))


def roundtrip(trigger: TrainingJobTrigger) -> TrainingJobTrigger:
    """Through the triggers table's own encoding (Trigger.from_object → kwargs), then re-created by
    class path as the triggerer does."""
    from airflow._shared.module_loading import import_string
    from airflow.models.trigger import Trigger

    row = Trigger.from_object(trigger)
    clone = import_string(row.classpath)(**row.kwargs)
    assert clone.serialize() == trigger.serialize()
    return clone


def test_deferred_job_survives_a_worker_restart_and_succeeds(
    k8s_api: FakeKubeAPI, k8s_conn: str, capsys
) -> None:
    k8s_api.script(
        "trainjobs", job_lifecycle("TrainJob", running_polls=4, outcome="Succeeded", reason="JobsCompleted")
    )
    with pytest.raises(TaskDeferred) as first:
        operator(k8s_conn, trainjob(), deferrable=True).execute(context(1))
    add_trainjob_pods(k8s_api, NAME)
    # The worker dies while deferred; the task is picked up again by a new operator instance.
    with pytest.raises(TaskDeferred) as second:
        operator(k8s_conn, trainjob(), deferrable=True).execute(context(2))
    assert len(k8s_api.requests("POST", "/trainjobs$")) == 1, "a second job was created"
    assert first.value.trigger.serialize() == second.value.trigger.serialize()

    event = run_trigger(roundtrip(second.value.trigger))
    assert event == {"status": "succeeded", "name": NAME, "namespace": "default", "reason": "JobsCompleted"}
    assert len(k8s_api.requests("GET", f"/trainjobs/{NAME}$")) >= 5  # polled while Running, then the verdict

    result = operator(k8s_conn, trainjob(), deferrable=True).execute_complete(context(2), event)
    assert result["name"] == NAME
    logs = capsys.readouterr().out  # the task log (structlog writes to stdout)
    assert "rank 0 done" in logs and "rank 1 done" not in logs  # rank 0's log only
    assert len(k8s_api.requests("GET", f"/pods/{NAME}-node-0-0-abcde/log$")) == 1
    assert [r.code for r in k8s_api.requests("DELETE", f"/trainjobs/{NAME}$")] == [200]
    assert k8s_api.objects(TJ, "trainjobs") == [] and k8s_api.objects("v1", "pods") == []
    [post] = k8s_api.requests("POST", "/trainjobs$")
    assert post.body["metadata"]["labels"]["airflow.apache.org/run-id"].startswith(
        "manual__2024-06-01T00-00-00"
    )


def test_failed_job_fails_the_task_with_its_reason_and_the_failing_ranks_log(
    k8s_api: FakeKubeAPI, k8s_conn: str, capsys
) -> None:
    k8s_api.script(
        "trainjobs",
        job_lifecycle(
            "TrainJob",
            running_polls=2,
            outcome="Failed",
            reason="FailedJobs",
            message="jobset node failed: pod exited with code 1",
        ),
    )
    with (
        _pods_after_create(k8s_api, failed_rank=1),
        pytest.raises(AirflowException, match=r"TrainJob default/.* failed: FailedJobs: jobset node failed"),
    ):
        operator(k8s_conn, trainjob()).execute(context())
    logs = capsys.readouterr().out  # the task log (structlog writes to stdout)
    assert "RuntimeError: rank 1 ran out of memory" in logs and "rank 0 epoch 1" in logs
    assert len(k8s_api.requests("POST", "/trainjobs$")) == 1
    assert [r.code for r in k8s_api.requests("DELETE", "/trainjobs/")] == [200]


class _pods_after_create:
    """Add the job's pods as soon as the operator's POST has created it (as a controller would)."""

    def __init__(self, api: FakeKubeAPI, failed_rank: int | None) -> None:
        self.api, self.failed_rank = api, failed_rank

    def __enter__(self) -> None:
        original = self.api._create

        def create(api_version: str, plural: str, ns: str, body: dict, **kw: Any) -> tuple[int, dict]:
            code, out = original(api_version, plural, ns, body, **kw)
            if code == 201 and plural == "trainjobs":
                add_trainjob_pods(self.api, body["metadata"]["name"], failed_rank=self.failed_rank)
            return code, out

        self.api._create = create  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        del self.api._create


def test_a_new_try_replaces_a_failed_job_and_accepts_a_succeeded_one(
    k8s_api: FakeKubeAPI, k8s_conn: str
) -> None:
    failed = {
        **trainjob(),
        "metadata": {"name": NAME, "namespace": "default"},
        "status": job_status("TrainJob", "Failed", "FailedJobs", "oom"),
    }
    k8s_api.put(TJ, "trainjobs", failed)
    k8s_api.script("trainjobs", job_lifecycle("TrainJob", running_polls=0, outcome="Succeeded"))
    operator(k8s_conn, trainjob()).execute(context(2))
    calls = [(r.method, r.code) for r in k8s_api.requests(path="/trainjobs")]
    assert calls[:2] == [("GET", 200), ("DELETE", 200)] and calls.count(("POST", 201)) == 1
    assert calls.index(("POST", 201)) > calls.index(("DELETE", 200))

    done = {
        **trainjob(),
        "metadata": {"name": NAME, "namespace": "default"},
        "status": job_status("TrainJob", "Succeeded", "JobsCompleted"),
    }
    k8s_api.put(TJ, "trainjobs", done)
    before = len(k8s_api.requests("POST"))
    operator(k8s_conn, trainjob(), on_finish_action="keep_job").execute(context(3))
    assert len(k8s_api.requests("POST")) == before  # not run again
    assert k8s_api.get(TJ, "trainjobs", NAME) is not None  # keep_job


def test_pytorchjob_master_log_and_delete_succeeded_only(k8s_api: FakeKubeAPI, k8s_conn: str, capsys) -> None:
    body = build_pytorchjob(seed_training_pod(namespace="default"), Topology(nodes=2), name="x")
    k8s_api.script(
        "pytorchjobs",
        job_lifecycle(
            "PyTorchJob",
            running_polls=1,
            outcome="Failed",
            reason="PyTorchJobFailed",
            message="worker 0 exited 1",
        ),
    )
    k8s_api.put(
        PT,
        "pytorchjobs",
        {
            **body,
            "metadata": {"name": NAME, "namespace": "default"},
            "status": job_status("PyTorchJob", "Running"),
        },
    )
    k8s_api.add_pod(
        f"{NAME}-master-0",
        labels={
            "training.kubeflow.org/job-name": NAME,
            "training.kubeflow.org/replica-type": "master",
            "training.kubeflow.org/replica-index": "0",
        },
        logs={"pytorch": "master says hi\n"},
        phase="Running",
    )
    k8s_api.add_pod(
        f"{NAME}-worker-0",
        labels={
            "training.kubeflow.org/job-name": NAME,
            "training.kubeflow.org/replica-type": "worker",
            "training.kubeflow.org/replica-index": "0",
        },
        logs={"pytorch": "worker crashed\n"},
        phase="Failed",
    )
    with pytest.raises(
        AirflowException, match="PyTorchJob default/.* failed: PyTorchJobFailed: worker 0 exited 1"
    ):
        operator(k8s_conn, body, on_finish_action="delete_succeeded_job").execute(context())
    logs = capsys.readouterr().out  # the task log (structlog writes to stdout)
    assert "master says hi" in logs and "worker crashed" in logs
    assert "following it" in logs  # the running job from an earlier try was followed
    assert k8s_api.requests("POST") == [] and k8s_api.requests("DELETE") == []


def test_timeout_event_and_deleted_job(k8s_api: FakeKubeAPI, k8s_conn: str) -> None:
    import time

    k8s_api.put(TJ, "trainjobs", {**trainjob(), "metadata": {"name": NAME, "namespace": "default"}})
    base = dict(
        name=NAME,
        namespace="default",
        group="trainer.kubeflow.org",
        version="v1alpha1",
        plural="trainjobs",
        kubernetes_conn_id=k8s_conn,
        poll_interval=0.05,
    )
    k8s_api.fail_next("GET", f"/trainjobs/{NAME}$", code=503, times=2)  # transient blips are retried
    # the deadline leaves room for the client's first connection on a loaded machine (0.5 s was flaky)
    event = run_trigger(TrainingJobTrigger(**base, deadline=time.time() + 2))
    assert event["status"] == "timeout" and "did not finish before its deadline" in event["reason"]
    assert [r.code for r in k8s_api.requests("GET", f"/trainjobs/{NAME}$")][:3] == [503, 503, 200]
    event = run_trigger(TrainingJobTrigger(**{**base, "name": "gone"}))
    assert event["status"] == "error" and "no longer exists" in event["reason"]
    with pytest.raises(AirflowException, match="timeout: .* did not finish"):
        operator(k8s_conn, trainjob()).execute_complete(
            context(), {**event, "status": "timeout", "reason": f"{NAME} did not finish"}
        )


def test_bad_body_and_on_finish_action_fail_at_parse_time() -> None:
    with pytest.raises(ValueError, match="job body is 'Deployment'"):
        TrainingJobOperator(task_id="t", body={"apiVersion": "apps/v1", "kind": "Deployment"})
    with pytest.raises(ValueError, match="on_finish_action 'delete_pod': use one of delete_job"):
        TrainingJobOperator(task_id="t", body=trainjob(), on_finish_action="delete_pod")  # type: ignore[arg-type]
