"""Demo stage: fit a logistic regression on the prepared data and save it.

With an experiment section, MLFLOW_TRACKING_URI / MLFLOW_RUN_ID are set: the params, the metric
and the model go into the pipeline's MLflow run with plain mlflow calls.
"""

import os
import pickle
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

data = Path(os.environ["DATA_DIR"])
df = pd.read_parquet(data / "train.parquet")
X, y = df[["user_click_count", "session_seconds"]], df["clicked"]
C = float(os.environ.get("C", "1.0"))
model = LogisticRegression(C=C, max_iter=200).fit(X, y)
accuracy = float(model.score(X, y))
(data / "model.pkl").write_bytes(pickle.dumps(model))
print(f"accuracy={accuracy:.4f}")

run_id = os.environ.get("MLFLOW_RUN_ID")
if run_id:
    import mlflow
    import mlflow.sklearn
    import sklearn

    # MLFLOW_RUN_ID makes start_run() resume the pipeline's run instead of creating one.
    with mlflow.start_run():
        mlflow.log_params({"C": C, "max_iter": 200, "rows": len(df)})
        mlflow.log_metric("accuracy", accuracy)
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X.head(3).astype(float),
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],  # no slow environment inference
        )
    print(f"logged model {info.model_id} to MLflow run {run_id}")
