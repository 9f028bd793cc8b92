"""batch_inference and drift plans: their DAGs, tasks, assets and the pipeline's asset-or-time schedule."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_aiinfra.contract import (
    INFERENCE_RESOLVE_MODEL,
    INFERENCE_SCORE,
    MONITOR_DECAY,
    MONITOR_DRIFT,
    MONITOR_RETRAIN,
    MONITOR_WAIT,
    TaskKind,
)
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "monitoring" / "recsys.yaml"


@pytest.fixture(scope="module")
def plans():
    return {p.dag_id: p for p in build_plans(load_spec(EXAMPLE))}


def test_the_example_has_four_dags_and_the_pipeline_listens_to_the_retrain_asset(plans) -> None:
    assert sorted(plans) == ["recsys_loop__inference", "recsys_loop__monitor", "recsys_loop__pipeline"]
    pipeline = plans["recsys_loop__pipeline"].schedule
    assert (pipeline.kind, pipeline.cron, pipeline.assets) == ("cron", "0 0 * * *", ("aiinfra://recsys_loop/retrain",))
    register = plans["recsys_loop__pipeline"].task("mlflow.register_model").payload
    assert register.datasets == {"training": {"path": ".demo/data/{{ ds_nodash }}/train.parquet", "format": None}}


def test_inference_pins_then_scores_as_a_stage_with_the_pinned_version(plans) -> None:
    p = plans["recsys_loop__inference"]
    assert [t.task_id for t in p.tasks] == [INFERENCE_RESOLVE_MODEL, INFERENCE_SCORE]
    score = p.task(INFERENCE_SCORE)
    assert score.kind is TaskKind.STAGE and score.upstream == (INFERENCE_RESOLVE_MODEL,)
    assert score.outlets == ("aiinfra://recsys_loop/predictions",)
    assert score.pod.image == "inference:latest" and score.pod.requests == {"cpu": "2", "memory": "4Gi"}
    assert score.pod.cmds == ["python", "-m", "airflow_aiinfra.monitoring.scoring"]
    assert "xcom_pull(task_ids='inference.resolve_model')['model_uri']" in score.pod.env["AIINFRA_MODEL_URI"]
    assert score.pod.env["AIINFRA_INPUT"] == ".demo/inference/input/{{ ds_nodash }}.parquet"


def test_monitor_waits_for_inference_then_checks_then_requests_retraining(plans) -> None:
    p = plans["recsys_loop__monitor"]
    assert [t.task_id for t in p.tasks] == [MONITOR_WAIT, MONITOR_DRIFT, MONITOR_DECAY, MONITOR_RETRAIN]
    assert p.task(MONITOR_WAIT).payload.external_dag_id == "recsys_loop__inference"
    drift = p.task(MONITOR_DRIFT).payload
    assert drift.features[1] == {"name": "session_seconds", "type": "numerical", "test": "wasserstein",
                                 "threshold": 0.1}
    assert drift.reference_path is None and drift.current == "batch_inference"
    decay = p.task(MONITOR_DECAY).payload
    assert decay.floors == [{"metric": "accuracy", "op": ">", "threshold": 0.9}]  # the metric gates
    retrain = p.task(MONITOR_RETRAIN)
    assert retrain.trigger_rule == "all_done" and retrain.outlets == retrain.inlets == ("aiinfra://recsys_loop/retrain",)
    assert retrain.payload.cooldown_seconds == 3 * 86400
    assert retrain.payload.check_task_ids == {"drift": MONITOR_DRIFT, "decay": MONITOR_DECAY}


def test_parsing_the_example_imports_nothing_heavy() -> None:
    code = ("import sys; from airflow_aiinfra.spec.load import load_spec; from airflow_aiinfra.plan.build import "
            f"build_plans; from airflow_aiinfra.wiring.dag import build_dag; [build_dag(p) for p in build_plans("
            f"load_spec({str(EXAMPLE)!r}))]; print(sorted(m for m in ('mlflow', 'scipy', 'pandas', 'sklearn', "
            "'feast', 'great_expectations', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_an_output_table_adds_the_publish_task(tmp_path) -> None:
    from airflow_aiinfra.contract import INFERENCE_PUBLISH

    text = EXAMPLE.read_text().replace("  chunk_rows: 100000\n",
                                       "  chunk_rows: 100000\n  output_table: {table: ml.predictions, conn_id: "
                                       "warehouse}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    plan = next(p for p in build_plans(load_spec(path)) if p.dag_id.endswith("__inference"))
    publish = plan.task(INFERENCE_PUBLISH)
    assert publish.upstream == (INFERENCE_SCORE,)
    assert (publish.payload.table, publish.payload.conn_id) == ("ml.predictions", "warehouse")
