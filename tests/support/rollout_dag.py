"""The rollout part of a spec's pipeline DAG, for ``airflow dags test`` against the serving stack.

The DAG is the product's own (spec → plan → wiring) minus the training stages; ``mlflow.start_run``,
``rollout.*`` and ``mlflow.end_run`` are the real operators. Registration is the one stand-in: it returns a
version the test registry already holds (``$ROLLOUT_E2E_VERSION``: the healthy, erring or slow variant), since
training and registering a model is tested elsewhere (tests/e2e/test_mlflow_dags_test.py) and the rollout
must serve a *known* variant. A DAG file copies this module and calls :func:`rollout_dag`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_aiinfra.contract import MLFLOW_REGISTER_MODEL, MLFLOW_START_RUN, ROLLOUT_DEPLOY
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec
from airflow_aiinfra.wiring.dag import build_dag


class FixtureRegistration(BaseOperator):
    """Stands in for ``mlflow.register_model``: the version this run "registered" (alias challenger)."""

    def __init__(self, *, registered_model: str, version: str, tracking_uri: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registered_model, self.version, self.tracking_uri = registered_model, version, tracking_uri

    def execute(self, context: Any) -> dict[str, str]:
        from mlflow import MlflowClient

        MlflowClient(self.tracking_uri).set_registered_model_alias(self.registered_model, "challenger", self.version)
        return {"name": self.registered_model, "version": self.version, "alias": "challenger",
                "model_uri": f"models:/{self.registered_model}/{self.version}"}


def rollout_dag(spec_path: str) -> Any:
    loaded = load_spec(Path(spec_path))
    plan = build_plans(loaded)[0]
    keep = {t.task_id for t in plan.tasks if t.group == "rollout" or t.group == "mlflow"} - {MLFLOW_REGISTER_MODEL}
    tasks = tuple(dataclasses.replace(t, upstream=tuple(u for u in t.upstream if u in keep))
                  for t in plan.tasks if t.task_id in keep)
    dag = build_dag(dataclasses.replace(plan, tasks=tasks))
    ex = loaded.spec.experiment
    assert ex is not None and ex.registered_model and ex.tracking_uri
    group = dag.task_group_dict["mlflow"]
    register = FixtureRegistration(task_id="register_model", task_group=group, dag=dag,
                                   registered_model=ex.registered_model, version=os.environ["ROLLOUT_E2E_VERSION"],
                                   tracking_uri=ex.tracking_uri)
    dag.get_task(MLFLOW_START_RUN) >> register >> dag.get_task(ROLLOUT_DEPLOY)
    return dag
