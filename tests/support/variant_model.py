"""An MLflow "model from code" for canary tests: a scikit-learn model that can be made to fail for a share
of requests (``error_share``) or to be slow (``delay_s``), set through ``model_config`` at log time."""

from __future__ import annotations

import random
import time
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class VariantModel(PythonModel):
    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        self.error_share = float(config.get("error_share", 0.0))
        self.delay_s = float(config.get("delay_s", 0.0))
        self.model = mlflow.sklearn.load_model(context.artifacts["base"])

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would read them as a schema
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.error_share and random.random() < self.error_share:
            raise RuntimeError("this variant fails on purpose")
        return self.model.predict(model_input)


mlflow.models.set_model(VariantModel())
