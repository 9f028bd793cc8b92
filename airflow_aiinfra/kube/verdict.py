"""Pure reading of a training job's state and its pods: what the trigger, the operator and tests share.

TrainJob (Trainer v2) reports ``Complete``/``Failed`` conditions; PyTorchJob (v1) reports
``Created``/``Running``/``Restarting``/``Succeeded``/``Failed``. A job is finished when a
terminal condition is True; its failure reason is that condition's reason and message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_aiinfra.kube.jobs import PYTORCHJOB, TRAINJOB, JobKind

State = Literal["running", "succeeded", "failed"]
_SUCCEEDED = ("Complete", "Succeeded")
_FAILED = ("Failed",)


def _reason(condition: Mapping[str, Any]) -> str:
    reason, message = condition.get("reason") or "", condition.get("message") or ""
    return f"{reason}: {message}" if reason and message else reason or message or condition.get("type", "")


def job_verdict(obj: Mapping[str, Any]) -> tuple[State, str]:
    """``(state, reason)`` of a TrainJob or PyTorchJob from its status conditions.

    Failure wins over success if a controller ever set both. While running, the reason is the
    latest True condition (``Created``, ``Running``, ``Suspended``...) or ``Pending``."""
    conditions = [c for c in (obj.get("status") or {}).get("conditions") or () if c.get("status") == "True"]
    for c in conditions:
        if c.get("type") in _FAILED:
            return "failed", _reason(c)
    for c in conditions:
        if c.get("type") in _SUCCEEDED:
            return "succeeded", _reason(c)
    return "running", conditions[-1].get("type", "Pending") if conditions else "Pending"


@dataclass(frozen=True)
class PodRef:
    """What log fetching needs of a job's pod."""

    name: str
    labels: Mapping[str, str]
    phase: str


def node_rank(kind: JobKind, labels: Mapping[str, str]) -> int:
    """A pod's node rank: TrainJob pods carry their completion index; PyTorchJob master is 0, worker i is i+1."""
    if kind == TRAINJOB:
        return int(labels.get("batch.kubernetes.io/job-completion-index")
                   or labels.get("jobset.sigs.k8s.io/job-index") or 0)
    if kind == PYTORCHJOB:
        index = int(labels.get("training.kubeflow.org/replica-index") or 0)
        return index if labels.get("training.kubeflow.org/replica-type", "").lower() == "master" else index + 1
    return 0


def log_pods(kind: JobKind, pods: Iterable[PodRef]) -> list[tuple[PodRef, str]]:
    """The pods whose logs go into the task log: rank 0's, and the first failed rank's, with why."""
    ranked = sorted(pods, key=lambda p: (node_rank(kind, p.labels), p.name))
    out: list[tuple[PodRef, str]] = []
    if ranked:
        out.append((ranked[0], f"node rank {node_rank(kind, ranked[0].labels)}"))
    failed = next((p for p in ranked if p.phase == "Failed"), None)
    if failed is not None and failed not in (p for p, _ in out):
        out.append((failed, f"failed node rank {node_rank(kind, failed.labels)}"))
    elif failed is not None:
        out[0] = (failed, out[0][1] + " (failed)")
    return out
