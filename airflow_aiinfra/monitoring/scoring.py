"""Batch scoring of one data interval with one pinned model version: ``python -m airflow_aiinfra.monitoring.scoring``.

Runs as the ``inference.score`` stage (a pod, or a subprocess under the local runner); everything comes from
the environment the plan sets (``plan/monitoring.py::score_env``). The input is read in chunks of
``AIINFRA_CHUNK_ROWS`` rows (Parquet row batches, CSV chunks), each chunk is scored with the model's
``mlflow.pyfunc`` flavor and appended to a temporary Parquet file beside the output, which then atomically
replaces the interval's file (``<start>_<end>.parquet``): a rerun replaces, never appends, never skips.
Memory is bounded by one chunk. Every output row carries ``model_version`` and ``model_run_id``; the file's
metadata too. Rows in must equal rows out, or the task fails and the old output stays.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PREDICTION = "prediction"
META_KEY = b"aiinfra"


def interval_name(start: datetime, end: datetime) -> str:
    f = "%Y%m%dT%H%M%S"
    return f"{start.astimezone(UTC).strftime(f)}_{end.astimezone(UTC).strftime(f)}.parquet"


def interval_file(output_dir: str | Path, start: datetime, end: datetime) -> Path:
    return Path(output_dir) / interval_name(start, end)


def chunks(path: str | Path, fmt: str | None, chunk_rows: int, columns: list[str]) -> Iterator[Any]:
    """Arrow tables of at most ``chunk_rows`` rows of ``columns``, in file order (only those columns are read)."""
    import pyarrow as pa

    from airflow_aiinfra.monitoring.datasets import format_of

    if format_of(path, fmt) == "csv":
        import pandas as pd

        for frame in pd.read_csv(path, chunksize=chunk_rows):
            missing(frame.columns, columns, path)
            yield pa.Table.from_pandas(frame[columns], preserve_index=False)
        return
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    missing(pf.schema_arrow.names, columns, path)
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
        yield pa.Table.from_batches([batch])


def missing(have: Any, want: list[str], path: str | Path) -> None:
    absent = [c for c in want if c not in set(have)]
    if absent:
        raise ValueError(f"input {path} has no column(s) {absent} (it has {list(have)})")


def constant(value: str, n: int) -> Any:
    """A column of one repeated string, dictionary-encoded: costs a few bytes whatever ``n`` is."""
    import numpy as np
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))


def model_features(model: Any) -> list[str]:
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        raise ValueError("the model has no input signature: list its columns in batch_inference.features")
    return list(schema.input_names())


def predictions_of(raw: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(raw, pd.DataFrame):
        raw = raw.iloc[:, 0] if raw.shape[1] == 1 else raw.to_numpy()[:, -1]
    return np.asarray(raw).reshape(len(raw), -1)[:, 0]


def score_file(
    model: Any,
    input_path: str | Path,
    output_path: str | Path,
    *,
    fmt: str | None = None,
    features: list[str] | None = None,
    keep_columns: list[str] | None = None,
    chunk_rows: int = 50_000,
    version: str = "",
    run_id: str = "",
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score ``input_path`` into ``output_path`` (atomically replaced). Returns {rows_in, rows_out, chunks, ...}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = list(features or model_features(model))
    keep = [c for c in keep_columns or [] if c not in features]
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    meta = {"model_version": version, "model_run_id": run_id, "input": str(input_path)}
    rows_in = rows_out = n = 0
    writer = None
    schema = None
    try:
        for n, table in enumerate(chunks(input_path, fmt, chunk_rows, keep + features), start=1):
            rows_in += table.num_rows
            preds = predictions_of(model.predict(table.select(features).to_pandas()))
            if len(preds) != table.num_rows:
                raise ValueError(f"the model returned {len(preds)} predictions for {table.num_rows} rows (chunk {n}); "
                                 "rows in must equal rows out: the output was not replaced")
            table = (table.append_column(PREDICTION, pa.array(preds))
                     .append_column("model_version", constant(version, table.num_rows))
                     .append_column("model_run_id", constant(run_id, table.num_rows)))
            if writer is None:
                schema = table.schema.with_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(schema))
            rows_out += table.num_rows
            if on_chunk is not None:
                on_chunk(n)
        if writer is None:  # an empty window is a fault upstream, not an empty success
            raise ValueError(f"input {input_path} has no rows; nothing to score")
        writer.close()
        writer = None
        if rows_in != rows_out:
            raise RuntimeError(f"rows in ({rows_in}) != rows out ({rows_out}); the output was not replaced")
        os.replace(tmp, output_path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return {"rows_in": rows_in, "rows_out": rows_out, "chunks": n, "output": str(output_path), **meta}


def output_metadata(path: str | Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(META_KEY, b"{}")
    return json.loads(raw)


def main(env: dict[str, str] | None = None) -> int:
    import pendulum

    env = dict(os.environ if env is None else env)
    import mlflow.pyfunc

    start, end = pendulum.parse(env["AIINFRA_WINDOW_START"]), pendulum.parse(env["AIINFRA_WINDOW_END"])
    output = interval_file(env["AIINFRA_OUTPUT_DIR"], start, end)  # type: ignore[arg-type]
    model = mlflow.pyfunc.load_model(env["AIINFRA_MODEL_URI"])
    split = lambda key: [c for c in env.get(key, "").split(",") if c]  # noqa: E731
    result = score_file(
        model, env["AIINFRA_INPUT"], output, fmt=env.get("AIINFRA_INPUT_FORMAT") or None,
        features=split("AIINFRA_FEATURES"), keep_columns=split("AIINFRA_KEEP_COLUMNS"),
        chunk_rows=int(env.get("AIINFRA_CHUNK_ROWS", "50000")), version=env.get("AIINFRA_MODEL_VERSION", ""),
        run_id=env.get("AIINFRA_MODEL_RUN_ID", ""),
    )
    print(f"rows written: {result['rows_out']} (rows in {result['rows_in']}, {result['chunks']} chunks) with "
          f"{env['AIINFRA_MODEL_URI']} → {output}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
