"""Tiny scikit-learn models registered in a local MLflow store (SQLite), in the variants a canary test needs.

Versions of ``recsys`` (in this order, so their numbers are fixed):

=========  ==========  =========================================================
variant    version     what it does
=========  ==========  =========================================================
good       recsys/1    logistic regression (alias ``champion``)
good2      recsys/2    another logistic regression: a healthy new version
erring     recsys/3    the good model, raising for ``error_share`` of requests
slow       recsys/4    the good model after sleeping ``delay_s``
slower     recsys/5    the good model after sleeping ``SLOWER_DELAY_S``: about twice stable's latency,
                       under the tests' absolute thresholds (for the comparative judge)
=========  ==========  =========================================================

``python -m tests.support.models DIR`` builds one for the demo or a benchmark.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

NAME = "recsys"
COLUMNS = ["a", "b", "c", "d"]
VARIANT_MODEL = Path(__file__).with_name("variant_model.py")
ERROR_SHARE = 0.3
SLOW_DELAY_S = 0.06
SLOWER_DELAY_S = 0.008


@dataclass(frozen=True)
class Registry:
    root: Path
    tracking_uri: str
    name: str
    versions: dict[str, str]  # variant -> version number

    def uri(self, variant: str) -> str:
        return f"models:/{self.name}/{self.versions[variant]}"

    def label(self, variant: str) -> str:
        return f"{self.name}/{self.versions[variant]}"


def request_body(row: list[float]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}}).encode()


def sample_bodies(n: int = 64, seed: int = 0) -> list[bytes]:
    import random

    rng = random.Random(seed)
    return [request_body([round(rng.random(), 4) for _ in COLUMNS]) for _ in range(n)]


def build_registry(root: Path) -> Registry:
    """Train and register the four variants under ``root`` (about 10 s, mostly imports)."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    root.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    exp = client.get_experiment_by_name("serving-tests")
    exp_id = exp.experiment_id if exp else client.create_experiment(
        "serving-tests", artifact_location=(root / "artifacts").as_uri())

    rng = np.random.RandomState(0)
    x = pd.DataFrame(rng.rand(300, len(COLUMNS)), columns=COLUMNS)
    y = (x["a"] + x["b"] > 1).astype(int)
    example = x.head(2)
    versions: dict[str, str] = {}
    base_dir = root / "base-model"
    for variant, c in (("good", 1.0), ("good2", 0.5)):
        with mlflow.start_run(experiment_id=exp_id):
            info = mlflow.sklearn.log_model(LogisticRegression(C=c).fit(x, y), name="model", registered_model_name=NAME,
                                            input_example=example, pip_requirements=["scikit-learn"])
        versions[variant] = str(info.registered_model_version)
    if not base_dir.exists():
        mlflow.sklearn.save_model(LogisticRegression(C=1.0).fit(x, y), str(base_dir), pip_requirements=["scikit-learn"])
    for variant, config in (("erring", {"error_share": ERROR_SHARE}), ("slow", {"delay_s": SLOW_DELAY_S}),
                            ("slower", {"delay_s": SLOWER_DELAY_S})):
        with mlflow.start_run(experiment_id=exp_id):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(VARIANT_MODEL), model_config=config, artifacts={"base": str(base_dir)},
                registered_model_name=NAME, input_example=example, pip_requirements=["scikit-learn"],
            )
        versions[variant] = str(info.registered_model_version)
    client.set_registered_model_alias(NAME, "champion", versions["good"])
    registry = Registry(root, tracking_uri, NAME, versions)
    (root / "registry.json").write_text(json.dumps({"tracking_uri": tracking_uri, "name": NAME, "versions": versions}))
    return registry


def load_registry(root: Path) -> Registry | None:
    """A registry built earlier under ``root`` (by another test worker), or None."""
    path = root / "registry.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Registry(root, data["tracking_uri"], data["name"], data["versions"])


if __name__ == "__main__":
    print(build_registry(Path(sys.argv[1]).resolve()))
