"""Demo data: a daily user_click_count per user (the offline source of the recsys feature store)."""

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

out = Path(os.environ.get("FEATURES_PATH", ".demo/features/user_clicks.parquet"))
out.parent.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(11)
days = pd.date_range("2024-05-25", "2024-06-30", freq="D", tz="UTC")
df = pd.DataFrame([(u, d) for d in days for u in range(1, 500)], columns=["user_id", "event_timestamp"])
df["user_click_count"] = rng.poisson(5, len(df))
df.to_parquet(out, index=False)
print(f"wrote {len(df)} feature rows to {out}")
sys.exit(0)
