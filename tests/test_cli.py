"""The `aiinfra` command: schema, render, pools, shards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import FIXTURES, ROOT, AirflowHome


def aiinfra(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_aiinfra.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


def test_schema_is_json_schema_of_the_spec() -> None:
    proc = aiinfra("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["title"] == "airflow-aiinfra spec"
    assert schema["additionalProperties"] is False
    assert {"training_pipeline", "feature_store", "model_serving", "data_quality", "experiment"} <= set(
        schema["properties"])


def test_render_prints_tasks_dependencies_and_pods_without_a_cluster() -> None:
    proc = aiinfra("render", "tests/fixtures/seed_spec.yaml")
    assert proc.returncode == 0, proc.stderr
    docs = proc.stdout.split("\n---\n")
    header = docs[0]
    assert "# DAG seed__pipeline" in header
    assert "training.model_training" in header and "after: training.data_preparation" in header
    pods = [yaml.safe_load(d) for d in docs[1:] if "kind: Pod" in d]
    by_stage = {p["metadata"]["labels"]["aiinfra/stage"]: p for p in pods}
    assert set(by_stage) >= {"data_preparation", "model_training", "model_validation"}
    assert by_stage["model_training"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_render_reports_spec_errors_without_traceback() -> None:
    proc = aiinfra("render", "tests/fixtures/bad_specs/03_memory_gb.yaml")
    assert proc.returncode == 1
    assert "did you mean '16Gi'?" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_pools_creates_gpu_pool_and_reports_tasks_that_can_never_fit(airflow_home: AirflowHome) -> None:
    airflow_home.add_spec("ok.yaml", "name: ok\ndefaults: {gpu_pool_slots: 4}\ntraining_pipeline:\n  stages:\n"
                          "    - {name: a, image: x, resources: {gpu: 2}}\n")
    proc = aiinfra("pools", str(airflow_home.specs), env=airflow_home.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pool aiinfra_gpu: set 4 slots; largest task needs 2" in proc.stdout
    listing = airflow_home.airflow("pools", "get", "aiinfra_gpu", "-o", "json")
    assert json.loads(listing.stdout)[0]["slots"] in (4, "4")
    # a spec that does not declare the pool size, asking for more than the pool already has
    airflow_home.add_spec("big.yaml", "name: big\ntraining_pipeline:\n  stages:\n"
                          "    - {name: a, image: x, resources: {gpu: 6}}\n")
    proc = aiinfra("pools", str(airflow_home.specs / "big.yaml"), env=airflow_home.env)
    assert proc.returncode == 1
    assert "big__pipeline.training.a (6) can never run: pool aiinfra_gpu has 4 slots" in proc.stdout


def test_shards_split_specs_into_stable_disjoint_parse_units(tmp_path: Path) -> None:
    from airflow_aiinfra.spec.files import shard_of, spec_files

    specs = tmp_path / "specs"
    specs.mkdir()
    for i in range(40):
        (specs / f"s{i}.yaml").write_text(f"name: s{i}\n")
    units = [spec_files(specs, shard=i, shards=4) for i in range(4)]
    assert sorted(p for u in units for p in u) == sorted(spec_files(specs))
    assert all(units), "every unit gets some specs"
    assert shard_of(Path("team/a.yaml"), 4) == shard_of(Path("team/a.yaml"), 4)
    proc = aiinfra("shards", "3", "--dags-dir", str(tmp_path / "dags"))
    assert proc.returncode == 0
    files = sorted((tmp_path / "dags").glob("aiinfra_dags_*.py"))
    assert [f.name for f in files] == ["aiinfra_dags_0.py", "aiinfra_dags_1.py", "aiinfra_dags_2.py"]
    assert "load_dags(globals(), shard=1, shards=3)" in files[1].read_text()


@pytest.mark.slow
def test_shard_loader_files_load_every_dag_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    specs = tmp_path / "specs"
    specs.mkdir()
    for i in range(6):
        (specs / f"s{i}.yaml").write_text((FIXTURES / "seed_spec.yaml").read_text().replace("name: seed", f"name: s{i}"))
    assert aiinfra("shards", "3", "--dags-dir", str(tmp_path / "dags")).returncode == 0
    monkeypatch.setenv("AIRFLOW__AIINFRA__SPECS_FOLDER", str(specs))
    bag = DagBag(dag_folder=str(tmp_path / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    pipelines = sorted(d for d in bag.dags if d.endswith("__pipeline"))
    assert pipelines == [f"s{i}__pipeline" for i in range(6)]
    assert len({bag.dags[d].fileloc for d in pipelines}) > 1  # really spread over units
