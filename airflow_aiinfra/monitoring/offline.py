"""The feature store's offline data of a window: the rows of its file sources whose timestamp is in [start, end).

Each source is read with a row filter on its timestamp column (Parquet predicate pushdown), and the sources are
stacked: every feature column holds the values of its own source's rows (empty elsewhere), which is what a
per-feature drift test needs (it drops empty values column by column).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def read_window(sources: list[dict[str, str]], start: datetime, end: datetime) -> Any:
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for src in sources:
        ts = src["timestamp_field"]
        lo, hi = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
        if getattr(pq.read_schema(src["path"]).field(ts).type, "tz", None) is None:  # naive stamps are UTC
            lo, hi = lo.tz_localize(None), hi.tz_localize(None)
        frames.append(pd.read_parquet(src["path"], filters=[(ts, ">=", lo), (ts, "<", hi)]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
