"""plan.features: apply/training-set tasks in the pipeline, the materialization DAG, plain-data payloads."""

from __future__ import annotations

from pathlib import Path

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.spec.load import load_spec_text
from tests.feast_support import SEED, inline_spec

STAGES = """\
training_pipeline:
  stages:
    - {name: prepare, image: p, command: [python, p.py]}
    - {name: other_root, image: p, command: [python, o.py]}
    - {name: train, image: t, command: [python, t.py], depends_on: [prepare]}
"""
TRAINING = """\
  training_set:
    entity_source: {path: data/entities.parquet}
    output_path: .demo/{{ ds_nodash }}/train.parquet
"""


def _plans(text: str, root: str = "/bundle"):
    return {p.dag_id: p for p in build_plans(load_spec_text(text, "s.yaml"), PlanOptions(bundle_root=root))}


def test_training_set_runs_after_apply_and_before_every_root_stage() -> None:
    plans = _plans(inline_spec(extra=TRAINING) + STAGES)
    pipe = plans["clicks__pipeline"]
    assert pipe.task("features.apply").upstream == ()
    assert pipe.task("features.training_set").upstream == ("features.apply",)
    assert pipe.task("training.prepare").upstream == ("features.training_set",)
    assert pipe.task("training.other_root").upstream == ("features.training_set",)
    assert pipe.task("training.train").upstream == ("training.prepare",)
    for stage in ("prepare", "other_root", "train"):
        assert pipe.task(f"training.{stage}").pod.env["TRAINING_SET_PATH"] == ".demo/{{ ds_nodash }}/train.parquet"
    payload = pipe.task("features.training_set").payload
    assert payload.output_path == "/bundle/.demo/{{ ds_nodash }}/train.parquet"
    assert payload.entity_path == "/bundle/data/entities.parquet"
    assert payload.features == ["user_clicks:user_click_count"]  # every inline feature by default


def test_without_training_set_apply_still_precedes_the_stages() -> None:
    pipe = _plans(inline_spec() + STAGES)["clicks__pipeline"]
    assert [t.task_id for t in pipe.tasks if t.group == "features"] == ["features.apply"]
    assert pipe.task("training.prepare").upstream == ("features.apply",)
    assert "TRAINING_SET_PATH" not in pipe.task("training.prepare").pod.env


def test_materialize_dag_has_its_own_schedule_and_real_intervals() -> None:
    extra = "  materialize: {schedule: '*/30 * * * *', start_date: '2024-05-01', catchup: true}\n"
    plan = _plans(inline_spec(extra=extra))["clicks__materialize"]
    assert (plan.schedule.kind, plan.schedule.cron) == ("cron", "*/30 * * * *")
    assert (plan.start_date, plan.catchup) == ("2024-05-01", True)
    assert [(t.task_id, t.kind, t.upstream) for t in plan.tasks] == [
        ("features.apply", "feast_apply", ()),
        ("features.materialize", "feast_materialize", ("features.apply",)),
        ("features.consistency", "feast_consistency", ("features.materialize",)),
    ]
    assert plan.task("features.materialize").payload.kwargs() == {
        "project": "clicks", "repo_path": None, "online_store_type": "sqlite", "online_store_path": None,
        "online_store_conn_id": None, "offline_store_type": "file", "offline_store_conn_id": None,
        "allow_overwrite_newer": False, "views": ["user_clicks"]}
    c = plan.task("features.consistency").payload
    assert (c.tolerance, c.alert_threshold, c.sample_size, c.check_interval_seconds) == (0.001, 0.01, 1000, 3600)


def test_hourly_by_default_and_no_pipeline_dag_for_features_alone() -> None:
    plans = _plans(inline_spec())
    assert list(plans) == ["clicks__materialize"]
    assert plans["clicks__materialize"].schedule.cron == "0 * * * *"


def test_seed_alone_has_nothing_to_materialize() -> None:
    assert _plans("name: s\n" + SEED) == {}


def test_repo_mode_uses_the_repos_stores_unless_the_spec_sets_them(tmp_path: Path) -> None:
    text = "name: d\nfeature_store:\n  repo_path: feature_repo\n  feature_views: [driver_hourly_stats]\n"
    store = _plans(text, str(tmp_path))["d__materialize"].task("features.materialize").payload
    assert store.views == ["driver_hourly_stats"]
    assert store.repo_path == str(tmp_path / "feature_repo")
    assert store.online_store_type is None and store.offline_store_type is None
    redis = _plans(text + "  online_store: {type: redis, conn_id: r}\n", str(tmp_path))["d__materialize"]
    apply = redis.task("features.apply").payload
    assert (apply.online_store_type, apply.online_store_path, apply.online_store_conn_id) == ("redis", None, "r")
