"""Feast operators on Feast's own example repo (`feast init`: driver stats no one here wrote), on
SQLite and on the machine's Redis, and the training set on an inline spec."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airflow_aiinfra.operators.feast import (
    FeastApplyOperator,
    FeastCheckFailed,
    FeastConsistencyOperator,
    FeastMaterializeOperator,
    FeastTrainingSetOperator,
)
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.spec.load import load_spec_text
from tests.feast_support import (  # noqa: F401
    REDIS_DB,
    T0,
    click_value,
    dump_online,
    feast_init,
    inline_spec,
    latest_in,
    redis_db,
    write_clicks,
)

VIEW = "driver_hourly_stats"
DRIVERS = [1001, 1002, 1003, 1004, 1005]


@pytest.fixture(scope="session")
def driver_repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return feast_init(tmp_path_factory.mktemp("feast-init"))


@pytest.fixture
def driver_repo(driver_repo_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(driver_repo_template, tmp_path / "feature_repo"))


def _ops(spec: str, root: Path) -> dict[str, Any]:
    """The Feast operators exactly as the wiring builds them from the spec."""
    from airflow_aiinfra.wiring.dag import build_dag

    plans = build_plans(load_spec_text(spec, "t.yaml"), PlanOptions(bundle_root=str(root)))
    dags = {p.dag_id: build_dag(p) for p in plans}
    return {f"{d}.{t.task_id}": t for d, dag in dags.items() for t in dag.tasks}


def _ctx(start: datetime, end: datetime) -> dict[str, Any]:
    return {"data_interval_start": start, "data_interval_end": end, "dag": DAG("no_mlflow_run", schedule=None)}


def _driver_window() -> tuple[datetime, datetime]:
    """An hour of the example data: `feast init` writes hourly rows up to the hour it ran."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    return end - timedelta(hours=1), end


@pytest.mark.integration
@pytest.mark.parametrize("store", [
    pytest.param("", id="sqlite"),
    pytest.param("  online_store: {type: redis, conn_id: feast_redis}\n", id="redis"),
])
def test_feast_init_repo_apply_materialize_replay_and_consistency(
        store: str, driver_repo: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = "redis" if store else "sqlite"
    if store:
        url = request.getfixturevalue("redis_url")
        request.getfixturevalue("redis_db")
        monkeypatch.setenv("AIRFLOW_CONN_FEAST_REDIS", f"{url}/{REDIS_DB}")
    spec = (f"name: drivers\nfeature_store:\n  repo_path: {driver_repo}\n  feature_views: [{VIEW}]\n"
            f"  consistency: {{sample_size: 100}}\n{store}")
    ops = _ops(spec, driver_repo)
    apply_op: FeastApplyOperator = ops["drivers__materialize.features.apply"]
    mat: FeastMaterializeOperator = ops["drivers__materialize.features.materialize"]
    check: FeastConsistencyOperator = ops["drivers__materialize.features.consistency"]
    start, end = _driver_window()

    assert apply_op.execute({})["changed"]
    again = {k: getattr(apply_op, k) for k in ("project", "repo_path", "online_store_type", "online_store_path",
                                               "online_store_conn_id", "offline_store_type", "offline_store_conn_id")}
    assert FeastApplyOperator(task_id="again", **again).execute({})["changed"] == []

    assert mat.execute(_ctx(start, end))["rows"] == {VIEW: len(DRIVERS)}
    first = dump_online(mat.hook, kind, VIEW)
    assert mat.execute(_ctx(start, end))["rows"] == {VIEW: len(DRIVERS)}  # replay the same window
    assert dump_online(mat.hook, kind, VIEW) == first

    report = check.execute(_ctx(start, end))
    assert report["status"] == "ok"
    assert {f["feature"] for f in report["features"]} >= {f"{VIEW}:conv_rate", f"{VIEW}:driver_config"}
    assert all(f["checked"] == len(DRIVERS) and f["mismatches"] == 0 for f in report["features"])

    # corrupt one online value: the driver's real row, conv_rate changed, one second newer
    import pandas as pd

    src = pd.read_parquet(driver_repo / "data" / "driver_stats.parquet")
    row = src[(src.driver_id == DRIVERS[0]) & (src.event_timestamp < end)].sort_values("event_timestamp").tail(1)
    row = row.assign(conv_rate=row.conv_rate + 0.5, event_timestamp=row.event_timestamp + pd.Timedelta(seconds=1))
    mat.hook.store.write_to_online_store(VIEW, row.reset_index(drop=True))
    with pytest.raises(FeastCheckFailed, match=rf"{VIEW}:conv_rate \(20\.00%\)") as failed:
        check.execute(_ctx(start, end))
    assert "acc_rate" not in str(failed.value)


def test_materialize_refuses_a_future_end_date(tmp_path: Path) -> None:
    ops = _ops(inline_spec(), tmp_path)
    mat = ops["clicks__materialize.features.materialize"]
    now = datetime.now(UTC)
    with pytest.raises(AirflowFailException, match="in the future"):
        mat.execute(_ctx(now - timedelta(minutes=30), now + timedelta(minutes=30)))


TRAINING = """\
  training_set:
    entity_source: {path: data/entities.parquet, timestamp_field: ts}
    output_path: out/{{ ds_nodash }}/train.parquet
"""


@pytest.mark.integration
def test_training_set_is_point_in_time_correct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    monkeypatch.setenv("AIRFLOW__AIINFRA__FEAST_HOME", str(tmp_path / "feast"))
    write_clicks(tmp_path / "data" / "clicks.parquet")
    entities = pd.DataFrame({"user_id": [1, 2, 3, 5, 7],
                             "ts": [T0 + timedelta(hours=h, minutes=30) for h in (10, 3, 47, 0, 20)]})
    entities.to_parquet(tmp_path / "data" / "entities.parquet")
    spec = inline_spec(extra=TRAINING).replace("name: clicks", "name: clicks\ntraining_pipeline:\n  stages:\n"
                                              "    - {name: train, image: x, command: [python, -V]}")
    ops = _ops(spec, tmp_path)
    ops["clicks__pipeline.features.apply"].execute({})
    op: FeastTrainingSetOperator = ops["clicks__pipeline.features.training_set"]
    op.output_path = str(tmp_path / "out" / "20240603" / "train.parquet")  # what Airflow renders for ds_nodash
    result = op.execute(_ctx(T0 + timedelta(days=2), T0 + timedelta(days=3)))

    got = pd.read_parquet(result["path"]).set_index("user_id")["user_click_count"]
    # each row gets the latest value at or before its own timestamp, never a later one
    expected = {u: latest_in(u, 0, h + 1) for u, h in zip([1, 2, 3, 5, 7], (10, 3, 47, 0, 20), strict=True)}
    assert expected[5] is None  # user 5 has no row at hour 0
    assert {u: (None if pd.isna(v) else int(v)) for u, v in got.items()} == expected
    assert result["rows"] == 5
    again = op.execute(_ctx(T0 + timedelta(days=2), T0 + timedelta(days=3)))
    assert again["sha256"] == result["sha256"]


@pytest.mark.integration
def test_training_set_from_the_entities_seen_in_a_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    monkeypatch.setenv("AIRFLOW__AIINFRA__FEAST_HOME", str(tmp_path / "feast"))
    write_clicks(tmp_path / "data" / "clicks.parquet", users=6)
    extra = "  training_set:\n    entity_window: 1h\n    output_path: out/train.parquet\n"
    ops = _ops(inline_spec(extra=extra).replace("name: clicks", "name: clicks\ntraining_pipeline:\n  stages:\n"
                                                "    - {name: train, image: x, command: [python, -V]}"), tmp_path)
    ops["clicks__pipeline.features.apply"].execute({})
    result = ops["clicks__pipeline.features.training_set"].execute(_ctx(T0 + timedelta(hours=9),
                                                                        T0 + timedelta(hours=10)))
    got = pd.read_parquet(result["path"]).set_index("user_id")["user_click_count"].to_dict()
    # users with a row in [9h, 10h) (users 1 and 6 have none), valued as of the end of the window
    assert got == {u: click_value(u, 9) for u in range(1, 7) if (u + 9) % 5}
