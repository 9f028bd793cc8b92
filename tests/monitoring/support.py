"""Data and a registered champion for the monitoring tests: a real MLflow store (SQLite in a temp folder),
real scikit-learn models registered by the product's own ``register_model`` and ``record_training_data``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NUMERIC = [f"f{i}" for i in range(16)]
CATEGORICAL = [f"c{i}" for i in range(4)]
FEATURES = NUMERIC + CATEGORICAL  # 20
MODEL_FEATURES = NUMERIC[:4]
CATS = ["a", "b", "c", "d", "e"]
CAT_P = [0.4, 0.25, 0.15, 0.12, 0.08]


def frame(n: int, seed: int, *, shift: dict[str, float] | None = None, ids_from: int = 0):
    """n rows from the training distribution; ``shift`` adds a constant to a numeric feature."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {"user_id": np.arange(ids_from, ids_from + n)}
    for i, name in enumerate(NUMERIC):
        data[name] = rng.normal(loc=i * 0.1, scale=1.0 + i * 0.05, size=n)
    for name in CATEGORICAL:
        data[name] = rng.choice(CATS, size=n, p=CAT_P)
    df = pd.DataFrame(data)
    for name, delta in (shift or {}).items():
        df[name] = df[name] + delta
    logits = df[MODEL_FEATURES].sum(axis=1) - 1.8  # about 30 % positives: a flipped model shifts the shares
    df["label"] = (logits + rng.normal(0, 0.3, n) > 0).astype(int)
    return df


@dataclass
class Registry:
    tracking_uri: str
    root: Path
    name: str = "recsys"

    def hook(self):
        from airflow_aiinfra.hooks.mlflow import MlflowHook

        return MlflowHook(None, tracking_uri=self.tracking_uri, conn_required=False)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def register(self, train_path: Path, *, alias: str = "champion", flip: bool = False, C: float = 1.0) -> str:
        """Train on ``train_path`` and register a version with ``alias`` (``flip``: a model predicting 1 - y)."""
        import mlflow
        import mlflow.sklearn
        import pandas as pd
        from sklearn.linear_model import LogisticRegression

        from airflow_aiinfra.operators.mlflow import record_training_data, register_model

        df = pd.read_parquet(train_path)
        y = 1 - df["label"] if flip else df["label"]
        model = LogisticRegression(C=C).fit(df[MODEL_FEATURES], y)
        client = self.client()
        exp = client.get_experiment_by_name(self.name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            self.name, artifact_location=(self.root / "artifacts").as_uri())
        run = client.create_run(exp_id)
        with self.hook().session():  # MLFLOW_TRACKING_URI for the fluent API, restored after (no global set_*_uri:
            with mlflow.start_run(run_id=run.info.run_id):  # it would outlive this test in the xdist worker)
                mlflow.log_metric("accuracy", float(model.score(df[MODEL_FEATURES], y)))
                mlflow.sklearn.log_model(model, name="model", input_example=df[MODEL_FEATURES].head(2),
                                         pip_requirements=["scikit-learn"])
        version, _, _ = register_model(self.hook(), run_id=run.info.run_id, registered_model=self.name, alias=alias,
                                       model_name=None, gates=[], tags={})
        record_training_data(self.hook(), run.info.run_id, {"training": {"path": str(train_path), "format": None}})
        return version
