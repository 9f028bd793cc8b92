"""Data locations: one rule (airflow_aiinfra.locations), checked on the text at spec validation (a located
error naming the field, the value and the fix) and on the resolved path when a gate or Feast task runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_aiinfra.errors import DataLocationRefused, SpecError
from airflow_aiinfra.locations import check_resolved, lexical_problem, package_dir
from airflow_aiinfra.spec.load import load_spec_text
from airflow_aiinfra.spec.options import SpecOptions


@pytest.mark.parametrize("value, reason", [
    pytest.param("/proc/self/environ", "under /proc", id="proc"),
    pytest.param("file:///proc/1/environ", "under /proc", id="file-url-proc"),
    pytest.param("/sys/kernel/x.csv", "under /sys", id="sys"),
    pytest.param("/dev/stdin", "under /dev", id="dev"),
    pytest.param("/data/../proc/self/environ", "under /proc", id="dotdot-into-proc"),
    pytest.param("../../../../etc/cron.d/x", "must stay inside it", id="escapes-bundle"),
    pytest.param("data/../../x.csv", "must stay inside it", id="escapes-after-normalizing"),
    pytest.param("dags/aiinfra_dags.py", "Python file", id="dag-file"),
    pytest.param("specs/{{ ds }}.csv", "specs/ folder", id="specs-templated"),
    pytest.param("./dags/out", "dags/ folder", id="dags-folder"),
    pytest.param("/opt/app/settings.py", "Python file", id="py-anywhere"),
])
def test_not_data_locations(value: str, reason: str) -> None:
    problem = lexical_problem(value)
    assert problem is not None and reason in problem and "data_roots" in problem


@pytest.mark.parametrize("value", [
    "data/{{ ds_nodash }}/train.parquet", ".demo/features/x.parquet", "/mnt/data/x.csv", "s3://bucket/x.parquet",
    "{{ params.path }}",  # checked once rendered, at run time
])
def test_data_locations(value: str) -> None:
    assert lexical_problem(value) is None


def test_data_roots_allow_list() -> None:
    roots = ("/data/ml", "s3://ml-data/")
    assert lexical_problem("/data/ml/x.csv", roots) is None
    assert lexical_problem("s3://ml-data/a/x.parquet", roots) is None
    assert "outside [aiinfra] data_roots" in (lexical_problem("/data/mlx/x.csv", roots) or "")
    assert "outside [aiinfra] data_roots" in (lexical_problem("s3://other/x.parquet", roots) or "")


SPEC = """\
name: loc
training_pipeline:
  stages:
    - {name: train, image: x}
data_quality:
  gates:
    - name: env
      data: {path: /proc/self/environ, format: csv}
      expectations: [{expect_table_row_count_to_be_between: {min_value: 1}}]
feature_store:
  entities: [{name: user, join_keys: [user_id]}]
  features:
    - {name: clicks, entity: user, dtype: int64}
  sources:
    clicks: {path: "dags/aiinfra_dags.py"}
  online_store: {path: /dev/shm/online.db}
  training_set:
    entity_window: 1d
    output_path: "../../../../etc/cron.d/x"
"""


def test_spec_errors_name_the_field_the_value_and_the_fix() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec_text(SPEC, "loc.yaml")
    lines = [str(i) for i in exc.value.issues if "not a data location" in i.message]
    assert any(s.startswith("loc.yaml:8:") and "data_quality.gates[0].data.path: '/proc/self/environ' is not a "
               "data location: it is under /proc" in s for s in lines), lines
    assert any("feature_store.sources.clicks.path: 'dags/aiinfra_dags.py'" in s for s in lines), lines
    assert any("feature_store.training_set.output_path: '../../../../etc/cron.d/x'" in s for s in lines), lines
    assert any("feature_store.online_store.path: '/dev/shm/online.db' is not a data location" in s for s in lines)
    assert all("keep data under" in s for s in lines)


def test_spec_data_roots_come_from_the_options() -> None:
    text = SPEC.replace("/proc/self/environ", "/srv/other/x.csv")
    with pytest.raises(SpecError, match=r"'/srv/other/x.csv' is not a data location: it is outside"):
        load_spec_text(text, "loc.yaml", options=SpecOptions(data_roots=("/data",)))


# --- at run time, on the resolved path -----------------------------------------------------------------------
@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    for d in ("dags", "specs", "data"):
        (tmp_path / d).mkdir()
    (tmp_path / "dags" / "aiinfra_dags.py").write_text("# code\n")
    (tmp_path / "data" / "ok.csv").write_text("a\n1\n")
    return tmp_path


def test_symlinks_are_followed(bundle: Path) -> None:
    (bundle / "data" / "env.csv").symlink_to("/proc/self/environ")
    (bundle / "data" / "dag.csv").symlink_to(bundle / "dags" / "aiinfra_dags.py")
    (bundle / "data" / "specs").symlink_to(bundle / "specs", target_is_directory=True)
    with pytest.raises(DataLocationRefused, match="resolves to /proc/"):
        check_resolved("data/env.csv", str(bundle))
    with pytest.raises(DataLocationRefused, match="Python file"):
        check_resolved("data/dag.csv", str(bundle))
    with pytest.raises(DataLocationRefused, match="inside code"):
        check_resolved("data/specs/x.csv", str(bundle))
    assert check_resolved("data/ok.csv", str(bundle)) == os.path.join(str(bundle), "data/ok.csv")


def test_rendered_templates_and_the_package_are_checked(bundle: Path) -> None:
    with pytest.raises(DataLocationRefused, match="must stay inside"):
        check_resolved("../../../../etc/cron.d/x", str(bundle))  # what '{{ params.p }}' rendered to
    with pytest.raises(DataLocationRefused, match="inside code"):
        check_resolved(str(package_dir() / "spec" / "gx_expectations.json"), str(bundle))
    with pytest.raises(DataLocationRefused, match="outside \\[aiinfra\\] data_roots"):
        check_resolved("data/ok.csv", str(bundle), roots=("/srv/data",))
    assert check_resolved("data/ok.csv", str(bundle), roots=("data",)).endswith("data/ok.csv")
    assert check_resolved("s3://bucket/x.parquet", str(bundle)) == "s3://bucket/x.parquet"


def test_a_gate_refuses_a_symlink_to_the_workers_environment(bundle: Path, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_aiinfra.operators.data_quality import DataQualityOperator

    monkeypatch.setenv("AIINFRA_TEST_TOKEN", "do-not-print-me")
    (bundle / "data" / "env.csv").symlink_to("/proc/self/environ")
    op = DataQualityOperator(task_id="g", gate="g", path="data/env.csv", format="csv", base_dir=str(bundle),
                             expectations=[{"expect_table_row_count_to_be_between": {"min_value": 1}}],
                             build_data_docs=False)
    with pytest.raises(AirflowFailException, match="is not a data location") as exc:
        op.execute({"ti": None, "run_id": "r"})
    assert "do-not-print-me" not in str(exc.value)

