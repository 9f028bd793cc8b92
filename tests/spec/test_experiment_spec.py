"""The experiment section: what it accepts, and errors that name the value and the fix."""

from __future__ import annotations

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.load import load_spec_text

BASE = """
name: exp
training_pipeline:
  stages:
    - name: train
      image: trainer:1
      command: python train.py
{stage_extra}
experiment:
{experiment}
"""


def _spec(experiment: str, stage_extra: str = "") -> str:
    indented = "\n".join("  " + line for line in experiment.strip().splitlines())
    return BASE.format(experiment=indented, stage_extra=stage_extra)


def test_full_section_loads() -> None:
    spec = load_spec_text(_spec("""
name: recsys-exp
conn_id: mlflow_prod
credentials_secret: mlflow-credentials
registered_model: recsys
model_stage: train
model_name: model
tags: {team: recsys}
metric_gates:
  - {metric: accuracy, op: ">", threshold: 0.9}
"""), "exp.yaml").spec
    ex = spec.experiment
    assert ex is not None
    assert (ex.name, ex.conn_id, ex.credentials_secret, ex.alias) == ("recsys-exp", "mlflow_prod", "mlflow-credentials",
                                                                      "challenger")
    assert ex.metric_gates[0].model_dump() == {"metric": "accuracy", "op": ">", "threshold": 0.9}


def test_empty_section_means_defaults() -> None:
    spec = load_spec_text(BASE.format(experiment="  {}", stage_extra=""), "exp.yaml").spec
    assert spec.experiment is not None and spec.experiment.tracking_uri is None and spec.experiment.conn_id is None


@pytest.mark.parametrize(
    ("experiment", "stage_extra", "match"),
    [
        pytest.param("tracking_uri: http://bob:hunter2@mlflow:5000", "",
                     r"experiment.tracking_uri: .*contains credentials.*conn_id.*did you mean 'http://mlflow:5000'",
                     id="password-in-uri"),
        pytest.param("tracking_uri: https://mlflow/?token=abc", "", r"contains credentials", id="token-in-query"),
        pytest.param("tracking_uri: mlflow:5000", "", r"is not a tracking server URL.*did you mean 'http://mlflow:5000'",
                     id="no-scheme"),
        pytest.param("tracking_uri: http://mlflow:5000\nconn_id: mlflow_default", "",
                     r"give tracking_uri or conn_id, not both", id="both-targets"),
        pytest.param("registered_model: recsys", "", r"registered_model needs model_stage", id="no-model-stage"),
        pytest.param("model_stage: train", "", r"registered_model is not", id="stage-without-model"),
        pytest.param("registered_model: recsys\nmodel_stage: trian", "",
                     r"experiment.model_stage: unknown stage 'trian'; did you mean 'train'\?", id="unknown-stage"),
        pytest.param("metric_gates: [{metric: accuracy, threshold: 0.9}]", "",
                     r"metric_gates and model_name apply to registration", id="gates-without-registration"),
        pytest.param("registered_model: r\nmodel_stage: train\nmetric_gates: [{metric: accuracy, op: '=>', "
                     "threshold: 0.9}]", "", r"op '=>' is not allowed; did you mean '>='\?", id="gate-op-typo"),
        pytest.param("registered_model: r\nmodel_stage: train\nmetric_gates: [{metric: accuracy, threshold: high}]",
                     "", r"metric_gates\[0\]\.threshold: input should be a valid number.*'high'", id="gate-threshold-not-number"),
        pytest.param("alias: latest", "", r"alias 'latest' is not a valid MLflow alias", id="alias-latest"),
        pytest.param("alias: v3", "", r"alias 'v3' is not a valid MLflow alias", id="alias-version-like"),
        pytest.param("tags: {mlflow.user: x}", "", r"tag 'mlflow.user' uses a reserved prefix.*rename it, e.g. 'user'",
                     id="reserved-tag"),
        pytest.param("credentials_secret: MLflow_Creds", "", r"credentials_secret: name 'MLflow_Creds' is not a "
                     r"Kubernetes DNS-1123 subdomain.*did you mean 'mlflow-creds'", id="secret-name"),
        pytest.param("credentials: x", "", r"unknown key 'credentials'; did you mean 'credentials_secret'\?",
                     id="typo-key"),
        pytest.param("{}", "      env: {MLFLOW_RUN_ID: abc}",
                     r"stages\[0\]\.env\.MLFLOW_RUN_ID: MLFLOW_RUN_ID is set by the experiment section", id="stage-env"),
    ],
)
def test_bad_experiment_is_a_located_error(experiment: str, stage_extra: str, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        load_spec_text(_spec(experiment, stage_extra), "exp.yaml")
    assert all(i.file == "exp.yaml" and i.line > 1 for i in info.value.issues)


def test_parsing_imports_no_mlflow() -> None:
    import subprocess
    import sys

    code = ("import sys; from airflow_aiinfra.spec.load import load_spec; from airflow_aiinfra.plan.build import "
            "build_plans; build_plans(load_spec('specs/recsys.yaml')); "
            "print(sorted(m for m in ('mlflow', 'pandas', 'feast', 'great_expectations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
