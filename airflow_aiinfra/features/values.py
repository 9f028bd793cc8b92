"""Online (protobuf) and offline (pandas) feature values in one comparable form, and a frame's content hash."""

from __future__ import annotations

import hashlib
from typing import Any


def normalize(value: Any) -> Any:
    """Online (protobuf) and offline (pandas) values in one comparable form: NaN/None → None,
    numpy scalars → Python, JSON strings → objects."""
    import json
    import math

    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def same(a: Any, b: Any) -> bool:
    import math

    a, b = normalize(a), normalize(b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def frame_hash(df: Any) -> str:
    """A content hash of a dataframe that does not depend on Parquet writer metadata."""
    import pandas as pd

    h = hashlib.sha256(",".join(f"{c}:{t}" for c, t in df.dtypes.astype(str).items()).encode())
    h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()
