"""What every section planner receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_aiinfra.contract import Payload, TaskKind
from airflow_aiinfra.plan.model import TaskPlan
from airflow_aiinfra.spec.loaded import LoadedSpec

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.model.root import Spec


@dataclass(frozen=True)
class PlanOptions:
    """Deployment settings the plan depends on (read from Airflow config by the wiring layer).

    ``bundle_root``: where stage commands run under the local runner and relative paths in the spec resolve
    (``airflow_aiinfra.bundle``); None leaves relative paths as written (resolved by the worker's cwd)."""

    default_uid: int = 1000
    bundle_root: str | None = None


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

    def resolve(self, path: str | None) -> str | None:
        """A spec path as the task will use it: relative to the bundle root; URLs, absolute paths and
        templated paths as written."""
        import posixpath

        root = self.options.bundle_root
        if path is None or root is None or "://" in path or path.startswith(("/", "{{")):
            return path
        return posixpath.normpath(posixpath.join(root, path))

    def task(self, task_id: str, kind: TaskKind, payload: Payload, **fields: Any) -> TaskPlan:
        """A task in the group its id names (``group.name``) with the spec's default retry policy and
        timeout (the one place they are merged); ``fields`` override any of them."""
        d = self.spec.defaults
        defaults: dict[str, Any] = {
            "group": task_id.split(".", 1)[0] if "." in task_id else None,
            "retries": d.retries,
            "retry_delay": d.retry_delay,
            "retry_exponential_backoff": d.retry_exponential_backoff,
            "max_retry_delay": d.max_retry_delay,
            "execution_timeout": d.execution_timeout,
        }
        return TaskPlan(task_id=task_id, kind=kind, payload=payload, **{**defaults, **fields})
