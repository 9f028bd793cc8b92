"""The source document's three YAML blocks load verbatim and produce the expected pods."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec
from tests.conftest import FIXTURES, ROOT

SEED_DOC = ROOT.parent / "shared" / "seeds" / "000_16fbcc8405aa8a45.txt"
SEED_SPEC = FIXTURES / "seed_spec.yaml"


def seed_blocks_from_document() -> list[str]:
    text = SEED_DOC.read_text(encoding="utf-8")
    section = text[text.index("## 3. "):text.index("## 4. ")]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


@pytest.mark.skipif(not SEED_DOC.exists(), reason="../shared/seeds is not beside this checkout")
def test_fixture_holds_the_documents_blocks_verbatim() -> None:
    blocks = seed_blocks_from_document()
    assert [b.split(":", 1)[0] for b in blocks] == ["model_serving", "feature_store", "training_pipeline"]
    assert SEED_SPEC.read_text(encoding="utf-8").endswith("".join(blocks))


def test_seed_blocks_normalise() -> None:
    spec = load_spec(SEED_SPEC).spec
    assert spec.model_serving is not None and spec.feature_store is not None
    assert spec.model_serving.monitoring.metrics == ["latency", "throughput", "error_rate"]
    assert spec.model_serving.monitoring.thresholds.error_rate == 0.05
    assert spec.model_serving.monitoring.thresholds.latency_p99 == 500
    assert [(v.version, v.weight, v.canary) for v in spec.model_serving.versions] == [
        ("v1.0", 80, False), ("v1.1", 20, True)]
    c = spec.feature_store.consistency
    assert (c.check_interval.total_seconds(), c.tolerance, c.alert_threshold) == (3600, 0.001, 0.01)
    assert spec.feature_store.features[0].ttl.days == 7
    assert [s.resources.gpu for s in spec.training_pipeline.stages] == [1, 2, 0]


def test_seed_training_stages_become_the_expected_pods() -> None:
    from airflow_aiinfra.wiring.dag import build_dag
    from airflow_aiinfra.wiring.render import pods_of

    (plan,) = [p for p in build_plans(load_spec(SEED_SPEC)) if p.dag_id == "seed__pipeline"]
    dag = build_dag(plan)
    pods = pods_of(dag)
    expected = {
        "training.data_preparation": ("data-prep:latest", "2", "8Gi", "1"),
        "training.model_training": ("training:latest", "4", "16Gi", "2"),
        "training.model_validation": ("validation:latest", "1", "4Gi", None),
    }
    assert set(pods) == set(expected)
    for task_id, (image, cpu, memory, gpu) in expected.items():
        container = pods[task_id]["spec"]["containers"][0]
        assert container["image"] == image
        res = container["resources"]
        for kind in ("requests", "limits"):
            assert res[kind]["cpu"] == cpu and res[kind]["memory"] == memory
            assert res[kind].get("nvidia.com/gpu") == gpu
        tolerations = pods[task_id]["spec"].get("tolerations") or []
        assert (gpu is not None) == any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    def stage_upstream(task_id: str) -> set[str]:
        return {t for t in dag.get_task(task_id).upstream_task_ids if t.startswith("training.")}

    assert stage_upstream("training.model_training") == {"training.data_preparation"}
    assert stage_upstream("training.model_validation") == {"training.model_training"}
    assert stage_upstream("training.data_preparation") == set()
    # the seed's feature_store block is applied to Feast before training starts
    assert dag.get_task("training.data_preparation").upstream_task_ids == {"features.apply"}
    assert dag.get_task("training.model_training").pool_slots == 2


def test_json_schema_accepts_the_verbatim_blocks() -> None:
    import jsonschema

    from airflow_aiinfra.spec.schema import json_schema
    from airflow_aiinfra.spec.yaml_loader import load_yaml

    data = load_yaml(SEED_SPEC.read_text(encoding="utf-8"), "seed").data
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    bad = {**data, "training_pipeline": {"stages": [{"name": "x", "image": "i", "gpus": 1}]}}
    with pytest.raises(jsonschema.ValidationError, match="gpus"):
        jsonschema.Draft202012Validator(json_schema()).validate(bad)


def test_example_specs_are_valid() -> None:
    for path in sorted(Path(ROOT / "specs").rglob("*.yaml")):
        load_spec(path)
