"""Feast objects (entities, sources, feature views) from the plan's inline definitions; imports Feast."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_aiinfra.contract import FeastEntityDef, FeastSourceDef, FeastViewDef

_FEAST_TYPES = {
    "int32": "Int32", "int64": "Int64", "float32": "Float32", "float64": "Float64", "string": "String",
    "bytes": "Bytes", "bool": "Bool", "unix_timestamp": "UnixTimestamp",
}
_VALUE_TYPES = {
    "int32": "INT32", "int64": "INT64", "float32": "FLOAT", "float64": "DOUBLE", "string": "STRING",
    "bytes": "BYTES", "bool": "BOOL", "unix_timestamp": "UNIX_TIMESTAMP",
}


def build_objects(entity_defs: list[FeastEntityDef], source_defs: dict[str, FeastSourceDef],
                  view_defs: list[FeastViewDef], project: str) -> dict[str, list[Any]]:
    """Entities, data sources and feature views (Feast objects) for inline definitions."""
    import feast
    from feast import types as ft
    from feast.value_type import ValueType

    entities = {
        e["name"]: feast.Entity(name=e["name"], join_keys=list(e["join_keys"]), description=e["description"],
                                value_type=getattr(ValueType, _VALUE_TYPES[e["value_type"]]))
        for e in entity_defs
    }
    sources: dict[str, Any] = {}
    for name, s in source_defs.items():
        if s.get("path"):
            sources[name] = feast.FileSource(name=name, path=s["path"], timestamp_field=s["timestamp_field"],
                                             created_timestamp_column=s.get("created_timestamp_column") or "")
        else:
            from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
                PostgreSQLSource,
            )

            sources[name] = PostgreSQLSource(name=name, query=s["query"], timestamp_field=s["timestamp_field"],
                                             created_timestamp_column=s.get("created_timestamp_column") or "")
    views = []
    for v in view_defs:
        ent = entities[v["entity"]]
        key_type = next(e["value_type"] for e in entity_defs if e["name"] == v["entity"])
        schema = [feast.Field(name=k, dtype=getattr(ft, _FEAST_TYPES[key_type])) for k in v["join_keys"]]
        schema += [feast.Field(name=f["name"], dtype=getattr(ft, _FEAST_TYPES[f["dtype"]]),
                               description=f["description"]) for f in v["features"]]
        views.append(feast.FeatureView(name=v["name"], entities=[ent], ttl=timedelta(seconds=v["ttl_seconds"]),
                                       schema=schema, online=v["online"], source=sources[v["source"]],
                                       tags={"aiinfra.managed": "true"}))
    return {"projects": [feast.Project(name=project)], "entities": list(entities.values()),
            "data_sources": list(sources.values()), "feature_views": views}
