"""Demo stage: build a small click dataset (deterministic) for the window being processed."""

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

out = Path(os.environ["DATA_DIR"])
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(int(os.environ.get("SEED", "7")))
n = int(os.environ.get("ROWS", "2000"))
df = pd.DataFrame({
    "user_id": rng.integers(1, 500, n),
    "user_click_count": rng.poisson(5, n),
    "session_seconds": rng.gamma(2.0, 60.0, n).round(1),
})
df["clicked"] = ((df.user_click_count * 0.3 + df.session_seconds / 120 + rng.normal(0, 0.15, n)) > 2.5).astype(int)
df.to_parquet(out / "train.parquet", index=False)
print(f"wrote {len(df)} rows to {out / 'train.parquet'}")
sys.exit(0)
