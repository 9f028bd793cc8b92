"""Pydantic models of a spec, one module per section."""

from airflow_aiinfra.spec.model.root import Spec

__all__ = ["Spec"]
