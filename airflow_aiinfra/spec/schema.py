"""The published JSON Schema of a spec (what editors use to autocomplete and check)."""

from __future__ import annotations

from typing import Any

from airflow_aiinfra.spec.model import Spec


def json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://airflow-aiinfra.dev/schema/spec-v1.json"
    schema["title"] = "airflow-aiinfra spec"
    return schema
