"""The DAG folder: every spec becomes DAGs, a broken spec becomes a visible placeholder, parse stays light."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

GOOD = (ROOT / "specs" / "recsys.yaml").read_text()


@pytest.fixture
def dag_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dags, specs = tmp_path / "dags", tmp_path / "specs"
    dags.mkdir()
    (specs / "team_b").mkdir(parents=True)
    shutil.copy(ROOT / "dags" / "aiinfra_dags.py", dags)
    (specs / "recsys.yaml").write_text(GOOD)
    (specs / "team_b" / "seed.yaml").write_text((FIXTURES / "seed_spec.yaml").read_text())
    (specs / "broken.yaml").write_text("name: churn\ntraining_pipeline:\n  stages:\n    - name: a\n      image: x\n"
                                       "      resources: {memory: 16GB}\n")
    (specs / "unreadable.yaml").write_text("::: not yaml [")
    (specs / "_draft.yaml").write_text("ignored: true")
    monkeypatch.setenv("AIRFLOW__AIINFRA__SPECS_FOLDER", str(specs))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return dags


def dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder), safe_mode=False)


def test_bad_spec_never_hides_the_good_ones(dag_folder: Path) -> None:
    bag = dagbag(dag_folder)
    assert bag.import_errors == {}
    assert set(bag.dags) == {"recsys__pipeline", "seed__pipeline", "churn__pipeline", "aiinfra_broken__unreadable"} | (
        {d for d in bag.dags if d.endswith("__materialize")})
    broken = bag.dags["churn__pipeline"]
    assert "aiinfra:broken-spec" in broken.tags
    assert "'16GB' is not a Kubernetes quantity; did you mean '16Gi'?" in broken.doc_md
    (task,) = broken.tasks
    assert task.task_id == "spec_error" and task.retries == 0
    assert any("16GB" in e for e in task.errors)
    assert "aiinfra:broken-spec" in bag.dags["aiinfra_broken__unreadable"].tags


def test_placeholder_task_fails_with_the_errors(dag_folder: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    task = dagbag(dag_folder).dags["churn__pipeline"].get_task("spec_error")
    with pytest.raises(AirflowFailException, match=r"broken\.yaml:6:.*resources\.memory: '16GB'"):
        task.execute({})


def test_dag_has_docs_tags_and_real_data_intervals(dag_folder: Path) -> None:
    import pendulum
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag(dag_folder).dags["recsys__pipeline"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.doc_md.count("training_pipeline:") == 1 and "# Example spec" in dag.doc_md  # as written
    assert {"aiinfra", "recsys", "example"} <= set(dag.tags)
    assert dag.start_date == pendulum.datetime(2024, 6, 1, tz="UTC")
    assert dag.params["C"] == 1.0
    assert dag.get_task("training.model_training").task_group.group_id == "training"


def test_parsing_context_builds_only_the_requested_dag(dag_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "seed__pipeline")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "training.model_training")
    assert set(dagbag(dag_folder).dags) == {"seed__pipeline"}


def test_duplicate_spec_names_become_a_placeholder(dag_folder: Path) -> None:
    (dag_folder.parent / "specs" / "zz_copy.yaml").write_text(GOOD)
    bag = dagbag(dag_folder)
    broken = bag.dags["aiinfra_broken__zz_copy"]
    assert "DAG id 'recsys__pipeline' is already produced by" in broken.doc_md
    assert "aiinfra:broken-spec" not in bag.dags["recsys__pipeline"].tags


def test_parse_imports_no_heavy_library_and_touches_no_db(tmp_path: Path) -> None:
    script = f"""
import json, sys, os
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql://nobody@127.0.0.1:1/none"  # unreachable on purpose
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(ROOT / 'dags')!r})
heavy = [m for m in ("mlflow", "feast", "great_expectations", "pandas") if m in sys.modules]
print(json.dumps({{"dags": sorted(bag.dags), "errors": bag.import_errors, "heavy": heavy}}))
"""
    env = {"PATH": str(Path(sys.executable).parent), "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__AIINFRA__SPECS_FOLDER": str(ROOT / "specs")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert "recsys__pipeline" in result["dags"]
    assert result["heavy"] == []


def test_importing_the_package_is_light() -> None:
    code = ("import sys, airflow_aiinfra, airflow_aiinfra.spec.load, airflow_aiinfra.plan;"
            "print([m for m in ('airflow', 'mlflow', 'feast', 'great_expectations', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_one_loader_per_team_folder(dag_folder: Path) -> None:
    specs = dag_folder.parent / "specs"
    (dag_folder / "aiinfra_dags.py").write_text(
        "from airflow_aiinfra.wiring.loader import load_dags\nload_dags(globals(), exclude=['team_b'])\n")
    (dag_folder / "aiinfra_team_b.py").write_text(
        "from pathlib import Path\nfrom airflow_aiinfra.wiring.loader import load_dags\n"
        f"load_dags(globals(), folder={str(specs / 'team_b')!r})\n")
    bag = dagbag(dag_folder)
    assert bag.import_errors == {}
    assert bag.dags["seed__pipeline"].fileloc.endswith("aiinfra_team_b.py")
    assert bag.dags["recsys__pipeline"].fileloc.endswith("aiinfra_dags.py")
    # stages of the team folder still run from the bundle root (the folder above dags/)
    task = bag.dags["seed__pipeline"].get_task("training.model_training")
    assert task.local_cwd == str(dag_folder.parent.resolve())


def test_an_unexpected_error_in_one_spec_becomes_a_placeholder(dag_folder: Path, monkeypatch) -> None:
    import airflow_aiinfra.wiring.dag as dag_module

    real = dag_module.build_dag

    def flaky(plan):
        if plan.dag_id == "seed__pipeline":
            raise RuntimeError("boom")
        return real(plan)

    monkeypatch.setattr(dag_module, "build_dag", flaky)
    bag = dagbag(dag_folder)
    assert bag.import_errors == {}
    assert "recsys__pipeline" in bag.dags and "aiinfra:broken-spec" not in bag.dags["recsys__pipeline"].tags
    placeholder = bag.dags["seed__pipeline"]
    assert "aiinfra:broken-spec" in placeholder.tags
    assert "building DAGs failed: RuntimeError: boom" in placeholder.doc_md


def test_a_worker_reads_only_the_spec_its_dag_comes_from(dag_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_aiinfra.wiring.loader as loader

    read: list[str] = []
    real = loader.load_spec

    def spy(path, options=None):
        read.append(Path(path).name)
        return real(path, options)

    monkeypatch.setattr(loader, "load_spec", spy)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "seed__pipeline")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "training.model_training")
    assert set(dagbag(dag_folder).dags) == {"seed__pipeline"}
    # recsys.yaml and broken.yaml (name: churn) are skipped by their `name:` line; a file whose name cannot
    # be read that cheaply (unreadable.yaml) is still read, since its DAG could be the one asked for
    assert sorted(read) == ["seed.yaml", "unreadable.yaml"]


def test_a_worker_finds_a_placeholder_dag(dag_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "aiinfra_broken__unreadable")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "spec_error")
    assert set(dagbag(dag_folder).dags) == {"aiinfra_broken__unreadable"}


# --- no spec takes another's DAG away ------------------------------------------------------------------------
def _spec(name: str, memory: str = "1Gi", extra: str = "") -> str:
    return (f"name: {name}\ntraining_pipeline:\n  stages:\n    - name: a\n      image: x\n"
            f"      resources: {{memory: {memory}}}\n{extra}")


def _load(specs: Path) -> dict:
    from airflow_aiinfra.wiring.loader import load_dags

    return load_dags(folder=specs, bundle_root=specs.parent)


def _broken(dag) -> bool:
    return "aiinfra:broken-spec" in dag.tags


def test_a_broken_draft_sorting_first_never_takes_a_valid_specs_dag(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "00_draft.yaml").write_text(_spec("churn", memory="16GB"))  # broken, reuses the name, sorts first
    (specs / "churn.yaml").write_text(_spec("churn"))
    dags = _load(specs)
    assert not _broken(dags["churn__pipeline"])
    assert _broken(dags["aiinfra_broken__00_draft"])
    assert "'16GB' is not a Kubernetes quantity" in dags["aiinfra_broken__00_draft"].doc_md


def test_two_broken_files_with_one_stem_get_two_placeholders(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    for team in ("team_a", "team_b"):
        (specs / team).mkdir(parents=True)
        (specs / team / "model.yaml").write_text(f"::: {team} [")
    dags = _load(specs)
    assert set(dags) == {"aiinfra_broken__team_a.model", "aiinfra_broken__team_b.model"}
    assert "team_a/model.yaml" in dags["aiinfra_broken__team_a.model"].doc_md
    assert "team_b/model.yaml" in dags["aiinfra_broken__team_b.model"].doc_md


def test_a_valid_spec_named_like_a_placeholder_keeps_its_dag(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(_spec("aiinfra_broken"))  # its DAG: aiinfra_broken__pipeline
    (specs / "pipeline.yaml").write_text("::: not yaml [")  # its path placeholder would be the same id
    dags = _load(specs)
    assert not _broken(dags["aiinfra_broken__pipeline"])
    (other,) = [d for i, d in dags.items() if i != "aiinfra_broken__pipeline"]
    assert _broken(other) and other.dag_id.startswith("aiinfra_broken__pipeline_")


def test_a_broken_spec_shows_every_dag_it_would_have_produced(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "fs.yaml").write_text(_spec("shop", memory="16GB", extra="feature_store:\n  project: shop\n"))
    (specs / "only_fs.yaml").write_text("name: feats\nfeature_store:\n  nonsense: 1\n")
    dags = _load(specs)
    assert set(dags) == {"shop__pipeline", "shop__materialize", "feats__materialize"}
    assert all(_broken(d) for d in dags.values())


def test_a_worker_builds_the_same_owner_as_the_processor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "00_draft.yaml").write_text(_spec("churn", memory="16GB"))
    (specs / "churn.yaml").write_text(_spec("churn"))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "churn__pipeline")
    assert not _broken(_load(specs)["churn__pipeline"])
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "aiinfra_broken__00_draft")
    assert set(_load(specs)) == {"aiinfra_broken__00_draft"}
