"""What every section planner receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
