"""Demo stage: check the saved model on the data; exit non-zero below the threshold."""

import os
import pickle
import sys
from pathlib import Path

import pandas as pd

data = Path(os.environ["DATA_DIR"])
model = pickle.loads((data / "model.pkl").read_bytes())
df = pd.read_parquet(data / "train.parquet")
accuracy = float(model.score(df[["user_click_count", "session_seconds"]], df["clicked"]))
threshold = float(os.environ.get("MIN_ACCURACY", "0.9"))
print(f"validation accuracy={accuracy:.4f} (threshold {threshold})")
sys.exit(0 if accuracy >= threshold else 3)
