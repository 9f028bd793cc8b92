"""The MLflow run functions behind the operators, against a real `mlflow server`: one run per DAG run,
idempotent registration, gates and model choice; plus the pure rules and what the DAG carries."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from mlflow.entities import LoggedModel, LoggedModelStatus

from airflow_aiinfra.errors import MlflowPermanentError
from airflow_aiinfra.hooks.mlflow import MlflowHook
from airflow_aiinfra.operators.mlflow import (
    check_gates,
    final_status,
    finish_run,
    pick_model,
    register_model,
    start_or_resume_run,
)
from tests.mlflow_server import MlflowServer

# mlflow.sklearn's serializer probes modules and trips Airflow's deprecated-import shims: noise, not signal.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _start(hook: MlflowHook, experiment: str, params: dict[str, str], try_number: str = "1") -> tuple[str, str, bool]:
    return start_or_resume_run(
        hook, experiment_name=experiment, dag_id="exp__pipeline", run_id="manual__2024-06-01T00:00:00+00:00",
        tags={"airflow.dag_id": "exp__pipeline", "airflow.run_id": "manual__2024-06-01T00:00:00+00:00",
              "airflow.try_number": try_number, "aiinfra.spec_sha256": "abc"},
        params=params, spec_text="name: exp\n", spec_file="specs/exp.yaml",
    )


@pytest.fixture
def hook(mlflow_server: MlflowServer) -> MlflowHook:
    return MlflowHook(None, tracking_uri=mlflow_server.url)


@pytest.mark.integration
def test_a_retried_start_resumes_the_same_run(hook: MlflowHook) -> None:
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    params = {"stage.train.image": "trainer:1", "stage.train.gpu": "2"}
    first, experiment_id, resumed_first = _start(hook, experiment, params)
    second, _, resumed_second = _start(hook, experiment, params, try_number="2")
    assert first == second and (resumed_first, resumed_second) == (False, True)
    client = hook.client
    runs = client.search_runs([experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params == params
    assert run.data.tags["airflow.try_number"] == "2" and run.data.tags["aiinfra.spec_sha256"] == "abc"
    assert [a.path for a in client.list_artifacts(first, "spec")] == ["spec/exp.yaml"]


@pytest.mark.integration
def test_a_changed_param_is_a_clear_permanent_error(hook: MlflowHook) -> None:
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    _start(hook, experiment, {"stage.train.image": "trainer:1"})
    with pytest.raises(MlflowPermanentError, match=r"stage.train.image: 'trainer:1' → 'trainer:2'.*trigger a new DAG run"):
        _start(hook, experiment, {"stage.train.image": "trainer:2"})


def _log_real_model(mlflow_server: MlflowServer, run_id: str, monkeypatch: pytest.MonkeyPatch, accuracy: float) -> None:
    """What a stage does: plain mlflow calls with MLFLOW_TRACKING_URI / MLFLOW_RUN_ID from the env."""
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with mlflow.start_run():
        mlflow.log_metric("accuracy", accuracy)
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])


@pytest.mark.integration
def test_registering_twice_yields_one_version_with_the_alias(
    hook: MlflowHook, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    name = f"model-{uuid.uuid4().hex[:8]}"
    run_id, _, _ = _start(hook, experiment, {})
    _log_real_model(mlflow_server, run_id, monkeypatch, accuracy=0.95)
    gates = [{"metric": "accuracy", "op": ">", "threshold": 0.9}]
    kwargs = {"run_id": run_id, "registered_model": name, "alias": "challenger", "model_name": None, "gates": gates,
              "tags": {"aiinfra.spec_sha256": "abc", "mlflow_run_id": run_id}}
    first = register_model(hook, **kwargs)
    second = register_model(hook, **kwargs)
    assert first == ("1", True, ["accuracy = 0.95 > 0.9"]) and second[:2] == ("1", False)
    client = hook.client
    assert len(client.search_model_versions(f"name = '{name}'")) == 1
    version = client.get_model_version_by_alias(name, "challenger")
    assert version.version == "1" and version.run_id == run_id
    assert version.tags["aiinfra.spec_sha256"] == "abc" and version.tags["aiinfra.logged_model"] == "model"
    finish_run(hook, run_id, "FINISHED", {"training.train": "success"})
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["airflow.task.training.train.state"] == "success"


@pytest.mark.integration
def test_a_failing_gate_registers_nothing(
    hook: MlflowHook, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    name = f"model-{uuid.uuid4().hex[:8]}"
    run_id, _, _ = _start(hook, experiment, {})
    _log_real_model(mlflow_server, run_id, monkeypatch, accuracy=0.8)
    with pytest.raises(MlflowPermanentError, match=r"metric gate failed.*accuracy = 0.8, needs > 0.9"):
        register_model(hook, run_id=run_id, registered_model=name, alias="challenger", model_name=None,
                       gates=[{"metric": "accuracy", "op": ">", "threshold": 0.9}], tags={})
    assert hook.client.search_model_versions(f"name = '{name}'") == []


@pytest.mark.parametrize(
    ("metrics", "gate", "match"),
    [
        pytest.param({"accuracy": 0.85}, {"metric": "accuracy", "op": ">", "threshold": 0.9},
                     r"accuracy = 0.85, needs > 0.9", id="below"),
        pytest.param({"loss": 0.5}, {"metric": "loss", "op": "<=", "threshold": 0.2}, r"loss = 0.5, needs <= 0.2",
                     id="above"),
        pytest.param({"auc": 0.7}, {"metric": "accuracy", "op": ">=", "threshold": 0.9},
                     r"metric 'accuracy' was not logged in run r1 \(logged: auc\)", id="missing"),
    ],
)
def test_gate_messages_name_metric_value_and_threshold(metrics: dict, gate: dict, match: str) -> None:
    with pytest.raises(MlflowPermanentError, match=match):
        check_gates(metrics, [gate], "r1")


def _model(name: str, ts: int, status: LoggedModelStatus = LoggedModelStatus.READY) -> LoggedModel:
    return LoggedModel(experiment_id="1", model_id=f"m-{name}-{ts}", name=name, artifact_location="x",
                       creation_timestamp=ts, last_updated_timestamp=ts, status=status)


def test_model_choice_is_never_a_guess() -> None:
    # a retried stage logged "model" twice: the newest ready one
    assert pick_model([_model("model", 1), _model("model", 2), _model("model", 3, LoggedModelStatus.PENDING)],
                      None, "r").model_id == "m-model-2"
    with pytest.raises(MlflowPermanentError, match=r"logged several models \(model, scaler\); set experiment.model_name"):
        pick_model([_model("model", 1), _model("scaler", 2)], None, "r")
    assert pick_model([_model("model", 1), _model("scaler", 2)], "model", "r").name == "model"
    with pytest.raises(MlflowPermanentError, match=r"no logged model named 'clf' \(logged: model\)"):
        pick_model([_model("model", 1)], "clf", "r")
    with pytest.raises(MlflowPermanentError, match=r"has no logged model"):
        pick_model([], None, "r")


@pytest.mark.parametrize(
    ("states", "status"),
    [
        pytest.param({"a": "success", "b": "skipped", "mlflow.end_run": "running"}, "FINISHED", id="ok"),
        pytest.param({"a": "failed", "b": "upstream_failed"}, "FAILED", id="failed"),
        pytest.param({"a": "success", "b": "upstream_failed"}, "FAILED", id="upstream-failed"),
    ],
)
def test_final_status(states: dict, status: str) -> None:
    assert final_status(states, "mlflow.end_run") == status


def test_dag_carries_the_link_and_parsing_imports_no_mlflow() -> None:
    code = """
import sys
from airflow.serialization.serialized_objects import DagSerialization
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec
from airflow_aiinfra.wiring.dag import build_dag
dag = build_dag(build_plans(load_spec("specs/recsys.yaml"))[0])
print("mlflow" in sys.modules, dag.get_task("mlflow.end_run").is_teardown)
ops = DagSerialization.to_dict(dag)["dag"]["tasks"]
print(sorted(t["__var"]["task_id"] for t in ops
             if t["__var"].get("_operator_extra_links") == {"MLflow run": "_link_MlflowRunLink"}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-2] == "False True"
    assert lines[-1] == str(sorted(["mlflow.start_run", "mlflow.register_model", "mlflow.end_run",
                                    "training.data_preparation", "training.model_training",
                                    "training.ddp_training", "training.model_validation"]))
