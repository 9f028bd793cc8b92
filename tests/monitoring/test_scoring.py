"""Batch inference with the registered champion: one output per interval, reruns replace byte for byte,
the version is pinned per interval, and moving `champion` in the middle of a run changes nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_aiinfra.monitoring.scoring import interval_file, main, output_metadata, score_file
from airflow_aiinfra.operators.monitoring import pin_model
from tests.monitoring.support import MODEL_FEATURES, Registry, frame

DAY1 = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC))
DAY2 = (datetime(2024, 6, 2, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_interval(registry: Registry, tmp_path: Path, window: tuple[datetime, datetime], input_path: Path,
                 chunk_rows: int = 700) -> Path:
    """What the inference DAG does for one interval: pin, then the scoring stage's entry point."""
    key = f"{window[0].isoformat()}/{window[1].isoformat()}"
    pinned = pin_model(registry.hook(), model_uri="models:/recsys@champion", experiment="recsys",
                       dag_id="recsys__inference", window=key)
    env = {"AIINFRA_MODEL_URI": pinned["model_uri"], "AIINFRA_MODEL_VERSION": pinned["version"],
           "AIINFRA_MODEL_RUN_ID": pinned["run_id"], "AIINFRA_INPUT": str(input_path),
           "AIINFRA_OUTPUT_DIR": str(tmp_path / "out"), "AIINFRA_WINDOW_START": window[0].isoformat(),
           "AIINFRA_WINDOW_END": window[1].isoformat(), "AIINFRA_FEATURES": ",".join(MODEL_FEATURES),
           "AIINFRA_KEEP_COLUMNS": "user_id", "AIINFRA_CHUNK_ROWS": str(chunk_rows),
           "MLFLOW_TRACKING_URI": registry.tracking_uri}
    with registry.hook().session():
        assert main(env) == 0
    return interval_file(tmp_path / "out", *window)


def test_one_output_per_interval_rerun_identical_changed_input_replaces(registry: Registry, tmp_path: Path) -> None:
    import pandas as pd

    src = tmp_path / "in.parquet"
    frame(3000, seed=11).to_parquet(src, index=False)
    out1 = run_interval(registry, tmp_path, DAY1, src)
    out2 = run_interval(registry, tmp_path, DAY2, src)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [out1.name, out2.name]  # nothing else left
    first = sha(out1)
    scored = pd.read_parquet(out1)
    assert len(scored) == 3000  # rows in = rows out
    assert list(scored.columns) == ["user_id", *MODEL_FEATURES, "prediction", "model_version", "model_run_id"]
    assert set(scored.model_version) == {"1"} and output_metadata(out1)["model_version"] == "1"
    mv = registry.client().get_model_version("recsys", "1")
    assert set(scored.model_run_id) == {mv.run_id}

    assert sha(run_interval(registry, tmp_path, DAY1, src)) == first  # same input: byte for byte

    frame(1200, seed=12).to_parquet(src, index=False)  # changed input: replaced, never appended
    out1b = run_interval(registry, tmp_path, DAY1, src)
    assert out1b == out1 and sha(out1) != first and len(pd.read_parquet(out1)) == 1200
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_moving_champion_mid_run_and_rerunning_keeps_the_pinned_version(registry: Registry, tmp_path: Path) -> None:
    import mlflow.pyfunc
    import pandas as pd

    client = registry.client()
    src = tmp_path / "in.parquet"
    frame(2000, seed=13).to_parquet(src, index=False)
    window = "2024-07-01T00:00:00+00:00/2024-07-02T00:00:00+00:00"
    pinned = pin_model(registry.hook(), model_uri="models:/recsys@champion", experiment="recsys",
                       dag_id="recsys__inference", window=window)
    assert pinned["version"] == "1"
    with registry.hook().session():
        model = mlflow.pyfunc.load_model(pinned["model_uri"])
        moved = []

        def promote_between_chunks(n: int) -> None:
            if n == 1:  # after the first chunk: champion → version 2 (predicts the opposite)
                client.set_registered_model_alias("recsys", "champion", "2")
                moved.append(n)

        try:
            score_file(model, src, tmp_path / "a.parquet", features=MODEL_FEATURES, chunk_rows=500,
                       version=pinned["version"], run_id=pinned["run_id"], on_chunk=promote_between_chunks)
            again = pin_model(registry.hook(), model_uri="models:/recsys@champion", experiment="recsys",
                              dag_id="recsys__inference", window=window)
        finally:
            client.set_registered_model_alias("recsys", "champion", "1")
        baseline = model.predict(pd.read_parquet(src)[MODEL_FEATURES])
    assert moved == [1]
    out = pd.read_parquet(tmp_path / "a.parquet")
    assert set(out.model_version) == {"1"}
    assert (out.prediction.to_numpy() == baseline).all()  # every chunk scored by version 1
    assert again["version"] == "1"  # a rerun of the window keeps the version pinned at its first run


def test_rows_in_must_equal_rows_out_and_the_old_output_stays(registry: Registry, tmp_path: Path) -> None:
    import mlflow.pyfunc

    src = tmp_path / "in.parquet"
    frame(100, seed=14).to_parquet(src, index=False)
    out = tmp_path / "o.parquet"
    out.write_bytes(b"previous")

    class Short:  # a model that loses a row: a fault a real flavor cannot be made to produce
        def predict(self, df):
            return [0] * (len(df) - 1)

    with pytest.raises(ValueError, match=r"returned 39 predictions for 40 rows \(chunk 1\); rows in must equal"):
        score_file(Short(), src, out, features=MODEL_FEATURES, chunk_rows=40)
    assert out.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert mlflow.pyfunc  # imported for the other tests' sake
