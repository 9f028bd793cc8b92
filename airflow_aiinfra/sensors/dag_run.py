"""Wait for the same interval's run of another DAG of the spec (the monitor waits for the inference)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.sensors.external_task import ExternalTaskSensor


class WaitDagRunSensor(ExternalTaskSensor):
    """Succeeds when ``external_dag_id``'s run of the same logical date succeeded, fails when it failed.
    Reschedules between pokes: no worker slot is held while waiting."""

    def __init__(self, *, external_dag_id: str, timeout_seconds: int = 6 * 3600, poke_seconds: int = 60,
                 **kwargs: Any) -> None:
        super().__init__(external_dag_id=external_dag_id, external_task_id=None, allowed_states=["success"],
                         failed_states=["failed"], mode="reschedule", timeout=timedelta(seconds=timeout_seconds),
                         poke_interval=poke_seconds, **kwargs)
        self.timeout_seconds = timeout_seconds
        self.poke_seconds = poke_seconds
