"""Performance decay: the champion's metrics on a window's labels, against floors and its registered metrics."""

from __future__ import annotations

import operator
from typing import Any

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
CLASSIFICATION = ("accuracy", "precision", "recall", "f1")
REGRESSION = ("rmse", "mae", "r2")


def join_labels(predictions: Any, labels: Any, key: list[str], label: str) -> Any:
    """Predictions inner-joined with labels on ``key``; raises when a key or the label column is missing."""
    for side, frame, cols in (("predictions", predictions, key), ("labels", labels, [*key, label])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"the {side} have no column(s) {missing} (they have {list(frame.columns)})")
    return predictions.merge(labels[[*key, label]].drop_duplicates(key), on=key, how="inner")


def metrics(task: str, y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn import metrics as m

    if task == "regression":
        return {"rmse": float(m.root_mean_squared_error(y_true, y_pred)),
                "mae": float(m.mean_absolute_error(y_true, y_pred)), "r2": float(m.r2_score(y_true, y_pred))}
    average = "binary" if len(set(y_true) | set(y_pred)) <= 2 else "weighted"
    return {"accuracy": float(m.accuracy_score(y_true, y_pred)),
            "precision": float(m.precision_score(y_true, y_pred, average=average, zero_division=0)),
            "recall": float(m.recall_score(y_true, y_pred, average=average, zero_division=0)),
            "f1": float(m.f1_score(y_true, y_pred, average=average, zero_division=0))}


def below_floors(values: dict[str, float], floors: list[dict[str, Any]]) -> list[str]:
    """One message per floor the values break: metric, value and floor."""
    broken = []
    for f in floors:
        name, op, threshold = f["metric"], f["op"], float(f["threshold"])
        if name not in values:
            broken.append(f"metric {name!r} cannot be computed here (computed: {', '.join(sorted(values))})")
        elif not _OPS[op](values[name], threshold):
            broken.append(f"{name} = {values[name]:.6g}, floor {op} {threshold:g}")
    return broken
