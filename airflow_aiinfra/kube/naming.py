"""Deterministic object names and safe label values for jobs a task creates.

The name depends on the DAG run and the task, never on the try: a new try of the same task
finds the job an earlier try created (to follow it, or to replace a failed one) instead of
starting a second one beside it.
"""

from __future__ import annotations

import hashlib
import re

# TrainJob names are RFC 1035 labels of at most 63 characters; PyTorchJob pods append
# "-worker-<index>" to the job name, which must then still be a label: keep room for that.
MAX_JOB_NAME = 48


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def job_name(
    dag_id: str, task_id: str, run_id: str, map_index: int = -1, *, max_len: int = MAX_JOB_NAME
) -> str:
    """``<task>-<dag>`` slug + a hash of (dag, task, run, map index): an RFC 1035 label, same for every try."""
    digest = hashlib.sha256(f"{dag_id}\0{task_id}\0{run_id}\0{map_index}".encode()).hexdigest()[:10]
    stem = _slug(f"{task_id.rsplit('.', 1)[-1]}-{dag_id}")
    if not stem or not stem[0].isalpha():
        stem = f"job-{stem}".rstrip("-")
    stem = stem[: max_len - len(digest) - 1].rstrip("-")
    return f"{stem}-{digest}"


def label_value(value: str) -> str:
    """``value`` as a valid label value (≤ 63 chars of [A-Za-z0-9-_.]); a hash keeps altered values distinct."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-_.")
    if safe == value and len(value) <= 63:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{safe[: 63 - 9].rstrip('-_.')}-{digest}".lstrip("-_.")


def run_labels(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> dict[str, str]:
    """Labels naming the Airflow task instance on the job and its pods (as KPO labels its pods)."""
    labels = {
        "airflow.apache.org/dag-id": label_value(dag_id),
        "airflow.apache.org/task-id": label_value(task_id),
        "airflow.apache.org/run-id": label_value(run_id),
    }
    if map_index >= 0:
        labels["airflow.apache.org/map-index"] = str(map_index)
    return labels
