"""What every section planner receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow_aiinfra.plan.model import TaskPlan
from airflow_aiinfra.spec.load import LoadedSpec
from airflow_aiinfra.spec.model import Spec


@dataclass(frozen=True)
class PlanOptions:
    """Deployment settings the plan depends on (read from Airflow config by the wiring layer)."""

    default_uid: int = 1000
    local_cwd: str | None = None  # where the local runner runs commands: the bundle root (parent of specs/)


@dataclass(frozen=True)
class PlanContext:
    loaded: LoadedSpec
    options: PlanOptions

    @cached_property
    def spec(self) -> Spec:
        return self.loaded.spec

    @property
    def default_uid(self) -> int:
        return self.options.default_uid

    def dag_id(self, suffix: str) -> str:
        return f"{self.spec.name}__{suffix}"

    def task(self, task_id: str, kind: str, **fields: Any) -> TaskPlan:
        """A task in the group its id names (``group.name``), with the spec's default retry policy and
        timeout; ``fields`` override any of them."""
        d = self.spec.defaults
        defaults: dict[str, Any] = {
            "group": task_id.split(".", 1)[0] if "." in task_id else None,
            "retries": d.retries,
            "retry_delay": d.retry_delay,
            "retry_exponential_backoff": d.retry_exponential_backoff,
            "max_retry_delay": d.max_retry_delay,
            "execution_timeout": d.execution_timeout,
        }
        return TaskPlan(task_id=task_id, kind=kind, **{**defaults, **fields})
