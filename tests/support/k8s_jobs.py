"""Statuses the TrainJob and PyTorchJob controllers write, for scripting jobs on the stand-in API server.

``job_lifecycle`` is an ``on_read`` script for ``FakeKubeAPI.script``: a job that reads as
Running for some polls, then ends. The statuses are valid for the CRDs (the server checks).
"""

from __future__ import annotations

from tests.support.k8s_api import Obj, OnRead, now


def job_condition(
    type_: str, reason: str = "", message: str = "", status: str = "True", *, v1_job: bool = False
) -> Obj:
    """A metav1.Condition (TrainJob), or with ``v1_job`` the Training Operator's JobCondition (+lastUpdateTime)."""
    condition = {
        "type": type_,
        "status": status,
        "reason": reason or type_,
        "message": message,
        "lastTransitionTime": now(),
    }
    if v1_job:
        condition["lastUpdateTime"] = now()
    return condition


def job_status(kind: str, state: str, reason: str = "", message: str = "") -> Obj:
    """The status a TrainJob or PyTorchJob controller writes for ``state`` (Created/Running/Succeeded/Failed)."""
    if kind == "TrainJob":
        if state in ("Created", "Running"):
            return {"conditions": []}
        terminal = {"Succeeded": "Complete", "Failed": "Failed"}[state]
        return {"conditions": [job_condition(terminal, reason, message)]}
    conditions = [job_condition("Created", "PyTorchJobCreated", "created", v1_job=True)]
    if state != "Created":
        running = "False" if state in ("Succeeded", "Failed") else "True"
        conditions.append(
            job_condition("Running", "PyTorchJobRunning", "running", status=running, v1_job=True)
        )
    if state in ("Succeeded", "Failed"):
        conditions.append(job_condition(state, reason or f"PyTorchJob{state}", message, v1_job=True))
    return {"conditions": conditions, "replicaStatuses": {}}


def job_lifecycle(
    kind: str, *, running_polls: int, outcome: str = "Succeeded", reason: str = "", message: str = ""
) -> OnRead:
    """A job that reads as Running for ``running_polls`` GETs, then ``outcome`` with ``reason``/``message``."""

    def on_read(_obj: Obj, reads: int) -> Obj:
        if reads <= running_polls:
            return job_status(kind, "Running")
        return job_status(kind, outcome, reason, message)

    return on_read
