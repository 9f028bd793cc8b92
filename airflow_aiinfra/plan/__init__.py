"""The plan layer: plain dataclasses describing DAGs and tasks. Knows neither YAML nor Airflow."""

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.model import DagPlan, PodPlan, TaskPlan

__all__ = ["DagPlan", "PodPlan", "TaskPlan", "build_plans"]
