"""plan_experiment: start before every root, env and credentials in every pod, register after the model stage,
end as an all_done teardown after every leaf. Pure data: no Airflow, no MLflow."""

from __future__ import annotations

import pytest

from airflow_aiinfra.contract import MLFLOW_END_RUN as END
from airflow_aiinfra.contract import MLFLOW_REGISTER_MODEL as REGISTER
from airflow_aiinfra.contract import MLFLOW_RUN_ID_TEMPLATE as RUN_ID_TEMPLATE
from airflow_aiinfra.contract import MLFLOW_START_RUN as START
from airflow_aiinfra.contract import MLFLOW_TRACKING_URI_TEMPLATE as TRACKING_URI_TEMPLATE
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.model import DagPlan, SecretPlan
from airflow_aiinfra.spec.load import load_spec_text

SPEC = """
name: exp
defaults: {retries: 3, retry_delay: 5s}
training_pipeline:
  stages:
    - name: prepare
      image: prep:1
      command: python prepare.py --day {{ ds }}
      resources: {cpu: "2", memory: 4Gi}
    - name: fetch
      image: fetch:1
      env: {MLFLOW_HTTP_REQUEST_TIMEOUT: "5"}
    - name: train
      image: trainer:2
      command: [python, train.py]
      depends_on: [prepare, fetch]
      resources: {cpu: "4", memory: 16Gi, gpu: 2}
    - name: validate
      image: val:1
      depends_on: [train]
    - name: report
      image: rep:1
      depends_on: [train]
experiment:
{experiment}
"""


def _plan(experiment: str) -> DagPlan:
    text = SPEC.replace("{experiment}", "\n".join("  " + line for line in experiment.strip().splitlines()))
    return build_plans(load_spec_text(text, "exp.yaml"))[0]


def test_run_wraps_the_pipeline() -> None:
    plan = _plan("registered_model: exp\nmodel_stage: train\nmetric_gates: [{metric: accuracy, op: '>', threshold: 0.9}]")
    assert plan.task(START).upstream == ()
    assert START in plan.task("training.prepare").upstream and START in plan.task("training.fetch").upstream
    assert START not in plan.task("training.train").upstream
    register = plan.task(REGISTER)
    # registration follows validation: after the model stage and every stage downstream of it
    assert register.upstream == ("training.train", "training.validate", "training.report")
    assert register.payload.metric_gates == [{"metric": "accuracy", "op": ">", "threshold": 0.9}]
    assert REGISTER not in plan.task("training.validate").upstream
    end = plan.task(END)
    assert set(end.upstream) == {REGISTER}
    assert (end.trigger_rule, end.teardown, end.group) == ("all_done", True, "mlflow")
    assert {t.task_id for t in plan.tasks if t.group == "mlflow"} == {START, REGISTER, END}
    assert all(t.retries == 3 and t.retry_delay.total_seconds() == 5 for t in plan.tasks if t.group == "mlflow")


def test_every_pod_gets_the_run_env_and_no_literal_credentials() -> None:
    plan = _plan("conn_id: mlflow_prod\ncredentials_secret: mlflow-creds")
    for task in plan.tasks:
        if task.pod is None:
            continue
        env = task.pod.env
        assert env["MLFLOW_RUN_ID"] == RUN_ID_TEMPLATE
        assert env["MLFLOW_TRACKING_URI"] == TRACKING_URI_TEMPLATE
        assert env["MLFLOW_EXPERIMENT_NAME"] == "exp"
        assert SecretPlan("mlflow-creds", None, "MLFLOW_TRACKING_*") in task.pod.secrets
        assert not any("PASSWORD" in k or "TOKEN" in k for k in env)
    # bounded client retries by default, a stage's own value wins
    assert plan.task("training.prepare").pod.env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"
    assert plan.task("training.fetch").pod.env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"


def test_literal_tracking_uri_and_name_go_straight_into_the_env() -> None:
    plan = _plan("name: recsys-exp\ntracking_uri: http://mlflow.mlflow.svc:5000")
    env = plan.task("training.train").pod.env
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc:5000"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "recsys-exp"
    assert plan.task(START).payload.tracking_uri == "http://mlflow.mlflow.svc:5000"
    assert REGISTER not in {t.task_id for t in plan.tasks}


def test_start_payload_holds_what_was_run() -> None:
    plan = _plan("tags: {team: recsys}")
    p = plan.task(START).payload.kwargs()
    assert p["params_to_log"]["stage.train.image"] == "trainer:2"
    assert p["params_to_log"]["stage.train.command"] == "python train.py"
    assert p["params_to_log"]["stage.prepare.command"] == "python prepare.py --day '{{' ds '}}'"
    assert p["params_to_log"]["stage.train.requests"] == "cpu=4,memory=16Gi,nvidia.com/gpu=2"
    assert p["params_to_log"]["stage.train.gpu"] == "2"
    assert p["spec_sha256"] == plan.spec_sha256 and "name: exp" in p["spec_text"]
    assert p["tags"] == {"team": "recsys"} and p["experiment_name"] == "exp"


@pytest.mark.parametrize(
    ("text", "expected_end_upstream"),
    [
        pytest.param("name: only\nexperiment: {}\n", (START,), id="no-stages"),
        pytest.param("name: one\ntraining_pipeline: {stages: [{name: a, image: x}]}\nexperiment: {}\n",
                     ("training.a",), id="one-stage"),
    ],
)
def test_small_pipelines(text: str, expected_end_upstream: tuple[str, ...]) -> None:
    plan = build_plans(load_spec_text(text, "s.yaml"))[0]
    assert plan.task(END).upstream == expected_end_upstream


def test_no_experiment_no_mlflow() -> None:
    plan = build_plans(load_spec_text("name: plain\ntraining_pipeline: {stages: [{name: a, image: x}]}\n", "s.yaml"))[0]
    assert [t.task_id for t in plan.tasks] == ["training.a"]
    assert "MLFLOW_RUN_ID" not in plan.task("training.a").pod.env
