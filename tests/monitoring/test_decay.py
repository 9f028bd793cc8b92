"""Decay: labels on which the champion scores under the floor fail the check with metric, value and floor;
the retrain decision and its cool-down; what a version was trained on, read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_aiinfra.monitoring.datasets import trained_on
from airflow_aiinfra.monitoring.decay import below_floors, metrics
from airflow_aiinfra.monitoring.scoring import interval_file, score_file
from airflow_aiinfra.operators.drift import run_decay
from airflow_aiinfra.operators.monitoring import outcome, retrain_decision
from tests.monitoring.support import MODEL_FEATURES, Registry, frame

WINDOW = (datetime(2024, 6, 5, tzinfo=UTC), datetime(2024, 6, 6, tzinfo=UTC))


@pytest.fixture(scope="module")
def scored(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    import mlflow.pyfunc

    root = tmp_path_factory.mktemp("decay")
    window = frame(3000, seed=500, ids_from=10_000)
    window.to_parquet(root / "in.parquet", index=False)
    with registry.hook().session():
        model = mlflow.pyfunc.load_model("models:/recsys/1")
    score_file(model, root / "in.parquet", interval_file(root / "out", *WINDOW), features=MODEL_FEATURES,
               keep_columns=["user_id"], version="1", run_id="r")
    return root, window


def decay(registry: Registry, root: Path, labels: Path, floors: list[dict]) -> dict:
    return run_decay(registry.hook(), model_uri="models:/recsys@champion", experiment="recsys",
                     dag_id="recsys__monitor", start=WINDOW[0], end=WINDOW[1], predictions_path=str(root / "out"),
                     labels_path=str(labels), key=["user_id"], label="label", task="classification", floors=floors)


def test_labels_under_the_floor_fail_with_metric_value_and_floor(registry: Registry, scored) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    root, window = scored
    labels = root / "labels.parquet"
    flipped = window[["user_id", "label"]].copy()
    flipped["label"] = 1 - flipped["label"]  # the world changed: the champion is now mostly wrong
    flipped.to_parquet(labels, index=False)
    result = decay(registry, root, labels, [{"metric": "accuracy", "op": ">", "threshold": 0.9}])
    acc = result["report"]["metrics"]["accuracy"]
    assert acc < 0.5 and result["found"]
    assert result["report"]["registered"]["accuracy"] > 0.8  # what it scored when it was registered
    with pytest.raises(AirflowFailException, match=rf"accuracy = {acc:.6g}, floor > 0\.9"):
        outcome(None, result["found"], "fail", result["message"])
    run = registry.client().get_run(result["run_id"])
    assert run.data.tags["aiinfra.decay"] == "decay" and run.data.metrics["decay.accuracy"] == pytest.approx(acc)


def test_labels_the_champion_still_fits_pass(registry: Registry, scored) -> None:
    root, window = scored
    labels = root / "good.parquet"
    window[["user_id", "label"]].sample(frac=0.5, random_state=1).to_parquet(labels, index=False)  # half arrived
    result = decay(registry, root, labels, [{"metric": "accuracy", "op": ">=", "threshold": 0.8}])
    assert not result["found"] and result["report"]["rows"] == 1500


def test_metrics_and_floors_for_regression() -> None:
    values = metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert values["mae"] == pytest.approx(2 / 3)
    assert below_floors(values, [{"metric": "rmse", "op": "<=", "threshold": 1.0}]) == [
        f"rmse = {values['rmse']:.6g}, floor <= 1"]
    assert "cannot be computed" in below_floors(values, [{"metric": "auc", "op": ">", "threshold": 0.5}])[0]


DAY = timedelta(days=1)
END = datetime(2024, 6, 10, tzinfo=UTC)


@pytest.mark.parametrize(("found", "last", "emit"), [
    pytest.param({"drift": True}, None, True, id="first-request"),
    pytest.param({"drift": False, "decay": False}, None, False, id="nothing-found"),
    pytest.param({"decay": True}, END - DAY, False, id="within-cooldown"),
    pytest.param({"decay": True}, END - 3 * DAY, True, id="cooldown-over-exactly"),
    pytest.param({"other": True}, None, False, id="not-in-retrain-on"),
])
def test_retrain_decision_and_cooldown(found: dict, last: datetime | None, emit: bool) -> None:
    decided, why = retrain_decision(found, ["drift", "decay"], END, last, 3 * DAY)
    assert decided is emit, why


def test_trained_on_reads_back_what_the_version_was_trained_on(registry: Registry, data_dir: Path) -> None:
    from airflow_aiinfra.monitoring.datasets import sha256_of

    [training] = trained_on(registry.client(), "recsys", 1)
    assert training["context"] == "training" and training["path"] == str(data_dir / "train.parquet")
    assert training["rows"] == 5000 and training["sha256"] == sha256_of(data_dir / "train.parquet")
    assert {"name": "f0", "type": "double"} in training["schema"]
    assert training["run_id"] == registry.client().get_model_version("recsys", "1").run_id


def test_remote_training_data_is_recorded_by_its_uri() -> None:
    from airflow_aiinfra.monitoring.datasets import dataset_entity, describe

    info = describe("s3://bucket/train.parquet")
    assert info == {"path": "s3://bucket/train.parquet", "format": "parquet", "sha256": "", "rows": None, "schema": []}
    entity = dataset_entity("training", info)
    assert entity.dataset.source_type == "s3" and len(entity.dataset.digest) == 16


def test_labels_that_have_not_arrived_skip_the_check(registry: Registry, scored) -> None:
    from airflow_aiinfra.operators.drift import LabelsNotYet

    root, _ = scored
    with pytest.raises(LabelsNotYet, match="no labels for the window .* \\(yet\\)"):
        decay(registry, root, root / "missing.parquet", [{"metric": "accuracy", "op": ">", "threshold": 0.9}])
