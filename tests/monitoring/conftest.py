from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.monitoring.support import Registry, frame


@pytest.fixture(scope="package")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("monitoring-data")
    frame(5000, seed=1).to_parquet(root / "train.parquet", index=False)
    return root


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Registry]:
    """A champion (v1) and a challenger-turned-other (v2, predicts the opposite) of ``recsys``."""
    import os

    root = tmp_path_factory.mktemp("mlflow")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    reg = Registry(f"sqlite:///{root / 'mlflow.db'}", root)
    reg.register(data_dir / "train.parquet", alias="champion")
    reg.register(data_dir / "train.parquet", alias="challenger", flip=True)
    yield reg
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
