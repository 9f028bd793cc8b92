"""Builders for the features task kinds (see airflow_aiinfra.plan.features)."""

from __future__ import annotations
