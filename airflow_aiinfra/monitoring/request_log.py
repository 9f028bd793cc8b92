"""The model servers' request/prediction log (``serving/request_log.py``) as a window's DataFrame.

Reads ``<dir>/<slot>/<YYYYmmddHH>.jsonl`` for every hour of [start, end) and every slot; keeps answered
requests (status 200, not truncated) whose ``ts`` is inside the window. A request body is MLflow's scoring
format (``dataframe_split`` {columns, data}, ``dataframe_records`` [{...}], or ``inputs``); the response's
``predictions`` line up with its rows. Columns: the features, ``prediction``, ``model_version``, ``slot``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def hours(start: datetime, end: datetime) -> list[str]:
    t = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = []
    while t < end:
        out.append(t.strftime("%Y%m%d%H"))
        t += timedelta(hours=1)
    return out


def rows_of(request: Any) -> list[dict[str, Any]]:
    if not isinstance(request, dict):
        return []
    if "dataframe_split" in request:
        split = request["dataframe_split"]
        return [dict(zip(split["columns"], row, strict=False)) for row in split.get("data", [])]
    if "dataframe_records" in request:
        return [dict(r) for r in request["dataframe_records"]]
    inputs = request.get("inputs")
    if isinstance(inputs, dict):
        keys = list(inputs)
        return [dict(zip(keys, vals, strict=False)) for vals in zip(*(inputs[k] for k in keys), strict=False)]
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        return [dict(r) for r in inputs]
    return []


def predictions_of(response: Any) -> list[Any]:
    preds = response.get("predictions") if isinstance(response, dict) else response
    if not isinstance(preds, list):
        return []
    return [p[0] if isinstance(p, list) and p else (next(iter(p.values())) if isinstance(p, dict) else p)
            for p in preds]


def read_window(directory: str | Path, start: datetime, end: datetime) -> Any:
    import pandas as pd

    records: list[dict[str, Any]] = []
    names = set(hours(start, end))
    for path in sorted(Path(directory).glob("*/*.jsonl")):
        if path.stem not in names:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            when = datetime.fromisoformat(rec["ts"])
            if rec.get("status") != 200 or rec.get("truncated") or not start <= when < end:
                continue
            rows, preds = rows_of(rec.get("request")), predictions_of(rec.get("response"))
            if len(rows) != len(preds):
                continue
            for row, pred in zip(rows, preds, strict=True):
                records.append({**row, "prediction": pred, "model_version": rec.get("model_version", ""),
                                "slot": rec.get("slot", "")})
    return pd.DataFrame.from_records(records)
