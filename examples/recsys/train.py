"""Demo stage: fit a logistic regression on the prepared data and save it."""

import os
import pickle
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

data = Path(os.environ["DATA_DIR"])
df = pd.read_parquet(data / "train.parquet")
X, y = df[["user_click_count", "session_seconds"]], df["clicked"]
model = LogisticRegression(C=float(os.environ.get("C", "1.0")), max_iter=200).fit(X, y)
accuracy = float(model.score(X, y))
(data / "model.pkl").write_bytes(pickle.dumps(model))
print(f"accuracy={accuracy:.4f}")
