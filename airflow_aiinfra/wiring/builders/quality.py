"""Builders for the quality task kinds (see airflow_aiinfra.plan.quality)."""

from __future__ import annotations
