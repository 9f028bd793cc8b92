"""Builders for the experiment task kinds (see airflow_aiinfra.plan.experiment)."""

from __future__ import annotations
