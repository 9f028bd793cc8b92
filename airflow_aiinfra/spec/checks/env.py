"""Stages leave the environment variables the product sets alone (``contract.RESERVED_ENV``, one list).

(The same rule, with the same message, is being added to ``checks/training.py`` on main: once both are there,
the issues are identical and reported once; this module can then go.)

A stage's own value would be overwritten, or would silently win over the product's (a rank with the
wrong ``WORLD_SIZE`` hangs at rendezvous): either way it is a located error naming who sets the variable.
The MLflow names are checked by ``checks/experiment.py``, and only when the spec has an experiment (without
one a stage may talk to its own MLflow server).
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.contract import MLFLOW_ENV, RESERVED_ENV
from airflow_aiinfra.spec.checks.common import Issue
from airflow_aiinfra.spec.model.training import Stage
from airflow_aiinfra.spec.yaml_loader import Path


def reserved_env_issues(stage: Stage, path: Path) -> Iterator[Issue]:
    for key in stage.env:
        if key in RESERVED_ENV and key not in MLFLOW_ENV:
            yield (*path, "env", key), (
                f"{key} is set by {RESERVED_ENV[key]}; a stage may not set it: remove it from env")
