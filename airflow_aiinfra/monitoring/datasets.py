"""What a registered version was trained on: its data as MLflow dataset inputs of its run, and back.

On registration (``mlflow.register_model``) each declared file (``experiment.datasets`` and the Feast
training set) is described — absolute path, SHA-256 of the bytes, schema, row count — and logged with
``MlflowClient.log_inputs`` under the context ``training`` or ``validation``. :func:`trained_on` reads them
back for a version: the reference of drift checks. Reading a Parquet file's schema and row count uses its
footer only; the hash streams the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CONTEXT_TAG = "mlflow.data.context"
SCHEMA_TYPES = {"int64": "long", "int32": "integer", "float64": "double", "float32": "float", "double": "double",
                "float": "float", "bool": "boolean",
                "string": "string", "large_string": "string", "binary": "binary", "object": "string"}


def format_of(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        return fmt
    return "csv" if str(path).endswith((".csv", ".csv.gz")) else "parquet"


def read_frame(path: str | Path, fmt: str | None = None, columns: list[str] | None = None) -> Any:
    import pandas as pd

    if format_of(path, fmt) == "csv":
        return pd.read_csv(path, usecols=columns)
    return pd.read_parquet(path, columns=columns)


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def is_remote(path: str | Path) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def describe(path: str | Path, fmt: str | None = None) -> dict[str, Any]:
    """{path, format, sha256, rows, schema: [{name, type}]} of a data file. A remote URL (s3://, gs://...) is
    recorded by its URI only (hash, rows and schema empty): reading a whole remote file at registration is not
    this task's job."""
    if is_remote(path):
        return {"path": str(path), "format": format_of(path, fmt), "sha256": "", "rows": None, "schema": []}
    path = Path(path).resolve()
    fmt = format_of(path, fmt)
    if fmt == "csv":
        frame = read_frame(path, fmt)
        rows = len(frame)
        schema = [{"name": str(c), "type": SCHEMA_TYPES.get(str(t), "string")} for c, t in frame.dtypes.items()]
    else:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path)
        rows = meta.metadata.num_rows
        schema = [{"name": f.name, "type": SCHEMA_TYPES.get(str(f.type), "string")} for f in meta.schema_arrow]
    return {"path": str(path), "format": fmt, "sha256": sha256_of(path), "rows": rows, "schema": schema}


def dataset_entity(context: str, info: dict[str, Any]) -> Any:
    """The MLflow ``DatasetInput`` of a described file."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(
        name=f"{context}:{Path(info['path']).name}",
        digest=(info["sha256"] or hashlib.sha256(info["path"].encode()).hexdigest())[:16],
        source_type="local" if "://" not in info["path"] else info["path"].split("://", 1)[0],
        source=json.dumps({"uri": info["path"]}),
        schema=json.dumps({"mlflow_colspec": [{"name": c["name"], "type": c["type"]} for c in info["schema"]]}),
        profile=json.dumps({"num_rows": info["rows"], "sha256": info["sha256"], "format": info["format"]}),
    )
    return DatasetInput(dataset, tags=[InputTag(CONTEXT_TAG, context)])


def log_datasets(client: Any, run_id: str, files: dict[str, tuple[str, str | None]]) -> list[dict[str, Any]]:
    """Describe and log ``{context: (path, format)}`` on the run; returns the descriptions."""
    described = []
    inputs = []
    for context, (path, fmt) in sorted(files.items()):
        info = {"context": context, **describe(path, fmt)}
        described.append(info)
        inputs.append(dataset_entity(context, info))
    if inputs:
        client.log_inputs(run_id, datasets=inputs)
    return described


def trained_on(client: Any, name: str, version: str | int) -> list[dict[str, Any]]:
    """What version ``version`` of registered model ``name`` was trained (and validated) on:
    [{context, name, path, format, sha256, rows, schema, run_id}], as recorded on its run."""
    mv = client.get_model_version(name, str(version))
    run = client.get_run(mv.run_id)
    out = []
    for di in run.inputs.dataset_inputs or []:
        tags = {t.key: t.value for t in di.tags or []}
        ds = di.dataset
        profile = json.loads(ds.profile or "{}")
        schema = json.loads(ds.schema or "{}").get("mlflow_colspec", [])
        out.append({"context": tags.get(CONTEXT_TAG, ""), "name": ds.name, "digest": ds.digest,
                    "path": json.loads(ds.source or "{}").get("uri", ""), "format": profile.get("format"),
                    "sha256": profile.get("sha256"), "rows": profile.get("num_rows"), "schema": schema,
                    "run_id": mv.run_id})
    return sorted(out, key=lambda d: (d["context"], d["name"]))
