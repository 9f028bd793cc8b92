"""The gate operator on real data: files the tests write, a table in the machine's Postgres, real GX.

``execute`` gets a context whose task instance records XCom pushes (the real one needs a running
supervisor; `tests/wiring/test_quality_dags_test.py` covers the task end to end in Airflow).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_aiinfra.errors import DataSourceUnavailable
from airflow_aiinfra.operators.data_quality import (
    DataQualityConfigError,
    DataQualityFailed,
    DataQualityOperator,
    format_table,
)
from tests.conftest import fresh_database

EXPECTATIONS = [
    {"expect_column_values_to_not_be_null": {"column": "user_id"}},
    {"expect_column_values_to_be_between": {"column": "age", "min_value": 0, "max_value": 120}},
    {"expect_column_values_to_be_in_set": {"column": "country", "value_set": ["DE", "FR", "US"]}},
    {"expect_table_row_count_to_be_between": {"min_value": 3}},
]


def good_frame() -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1, 2, 3, 4], "age": [31, 45, 27, 60], "country": ["DE", "FR", "US", "DE"]})


def bad_frame() -> pd.DataFrame:
    return pd.DataFrame({"user_id": [1, None, 3, 4], "age": [31, -4, 27, 300], "country": ["DE", "FR", "XX", "DE"]})


@dataclass
class RecordingTI:
    """The task-instance surface the operator uses: ids, xcom_push, and xcom_pull (the MLflow link
    looks for this DAG run's MLflow run there; these tests have none)."""

    dag_id: str = "dq__pipeline"
    run_id: str = "manual__2024-06-01T00:00:00+00:00"
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON
        self.pushed[key] = value

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        return None


def run(op: DataQualityOperator) -> RecordingTI:
    ti = RecordingTI()
    op.execute({"ti": ti, "run_id": ti.run_id})
    return ti


@pytest.fixture(autouse=True)
def docs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data_docs"
    monkeypatch.setenv("AIRFLOW__AIINFRA__DATA_DOCS_FOLDER", str(folder))
    monkeypatch.setenv("AIRFLOW__AIINFRA__DATA_DOCS_BASE_URL", "")
    monkeypatch.delenv("AIRFLOW__AIINFRA__GX_CUSTOM_EXPECTATIONS_MODULE", raising=False)
    return folder


def gate(**kw: Any) -> DataQualityOperator:
    kw.setdefault("expectations", EXPECTATIONS)
    return DataQualityOperator(task_id=kw.pop("task_id", "events"), gate=kw.pop("gate", "events"), **kw)


@pytest.mark.parametrize("fmt", [pytest.param("csv", id="csv"), pytest.param("parquet", id="parquet")])
def test_passing_gate_pushes_result_and_builds_data_docs(tmp_path: Path, docs_folder: Path, fmt: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bundle" / "data" / "2024-06-01"
    data.mkdir(parents=True)
    getattr(good_frame(), f"to_{fmt}")(data / f"events.{fmt}", index=False)
    op = gate(path=f"data/2024-06-01/events.{fmt}", format=fmt, base_dir=str(tmp_path / "bundle"))
    ti = run(op)
    result = ti.pushed["return_value"]
    assert result["status"] == "passed" and result["success"] is True
    assert result["rows"] == 4 and result["failed"] == []
    assert result["statistics"]["evaluated_expectations"] == 4
    # Data Docs: the page of this run, under the folder, reachable through the plugin's URL
    assert op.data_docs_url and op.data_docs_url.startswith("/aiinfra/data-docs/dq__pipeline/manual__2024-06-01")
    page = docs_folder / op.data_docs_url.removeprefix("/aiinfra/data-docs/")
    assert page.is_file() and "values must belong to this set" in page.read_text()
    site = docs_folder / "dq__pipeline" / "manual__2024-06-01T00_00_00_00_00" / "events"
    assert (site / "index.html").is_file()
    assert (site / "static").is_symlink() and (site / "static" / "styles").is_dir()  # one shared copy
    assert "Calculating Metrics" not in capsys.readouterr().err  # GX progress bars are off
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"


def test_failing_gate_raises_non_retried_error_after_pushing_the_result(tmp_path: Path) -> None:
    bad_frame().to_parquet(tmp_path / "events.parquet")
    op = gate(path=str(tmp_path / "events.parquet"), format="parquet")
    ti = RecordingTI()
    with pytest.raises(DataQualityFailed, match=r"failed 3 of 4 expectations on 4 rows") as exc:
        op.execute({"ti": ti, "run_id": ti.run_id})
    assert isinstance(exc.value, AirflowFailException)  # Airflow fails it without retrying
    result = ti.pushed["return_value"]
    assert result["status"] == "failed"
    failed = {f["expectation"]: f for f in result["failed"]}
    assert set(failed) == {"expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
                           "expect_column_values_to_be_in_set"}
    between = failed["expect_column_values_to_be_between"]
    assert between["unexpected_count"] == 2 and sorted(between["unexpected_sample"]) == [-4, 300]
    assert failed["expect_column_values_to_be_in_set"]["unexpected_sample"] == ["XX"]
    table = format_table(result)
    assert "FAIL  expect_column_values_to_be_between(age)" in table and "e.g. -4, 300" in table


def test_warn_gate_succeeds_and_marks_the_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_frame().to_csv(tmp_path / "events.csv", index=False)
    ti = run(gate(path=str(tmp_path / "events.csv"), format="csv", on_failure="warn", build_data_docs=False))
    result = ti.pushed["return_value"]
    assert result["status"] == "warn" and result["success"] is False and len(result["failed"]) == 3
    assert result["data_docs"] is None
    logged = capsys.readouterr()
    assert "DATA QUALITY WARNING" in logged.out + logged.err


def test_folder_of_csv_files_and_a_gx_suite_file(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    good_frame().iloc[:2].to_csv(folder / "part-0.csv", index=False)
    good_frame().iloc[2:].to_csv(folder / "part-1.csv.gz", index=False)
    suite = {"name": "events", "expectations": [
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "user_id"}},
    ]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    ti = run(gate(path="events", format="csv", suite_path="suite.json", base_dir=str(tmp_path),
                  expectations=[{"expect_column_to_exist": {"column": "age"}}], build_data_docs=False))
    result = ti.pushed["return_value"]
    assert result["status"] == "passed"
    assert [e["expectation"] for e in result["expectations"]] == [
        "expect_table_row_count_to_equal", "expect_column_values_to_be_unique", "expect_column_to_exist"]


@pytest.mark.integration
def test_postgres_table_passing_and_failing(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy

    url = fresh_database("aiinfra_dq_op")
    engine = sqlalchemy.create_engine(url)
    good_frame().assign(day="2024-06-01").to_sql("users", engine, index=False)
    bad_frame().assign(day="2024-06-02").to_sql("users", engine, index=False, if_exists="append")
    engine.dispose()
    monkeypatch.setenv("AIRFLOW_CONN_DQ_PG", url.replace("+psycopg2", ""))
    query = "SELECT user_id, age, country FROM users WHERE day = :day"
    ok = run(gate(query=query, query_params={"day": "2024-06-01"}, conn_id="dq_pg", build_data_docs=False))
    assert ok.pushed["return_value"]["status"] == "passed"
    assert ok.pushed["return_value"]["source"] == "query on dq_pg"
    with pytest.raises(DataQualityFailed, match="expect_column_values_to_be_between"):
        run(gate(query=query, query_params={"day": "2024-06-02"}, conn_id="dq_pg", build_data_docs=False))


HOSTILE = "'; DROP TABLE users; --"


@pytest.fixture
def users_db(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import sqlalchemy

    url = fresh_database("aiinfra_dq_ro")
    engine = sqlalchemy.create_engine(url)
    good_frame().assign(day="2024-06-01").to_sql("users", engine, index=False)
    monkeypatch.setenv("AIRFLOW_CONN_DQ_RO", url.replace("+psycopg2", ""))
    yield engine
    engine.dispose()


def _rows(engine: Any) -> int:
    import sqlalchemy

    with engine.connect() as db:
        return db.execute(sqlalchemy.text("SELECT count(*) FROM users")).scalar_one()


@pytest.mark.integration
@pytest.mark.parametrize("query", [
    pytest.param("DROP TABLE users", id="drop"),
    pytest.param("WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone", id="delete-in-cte"),
    pytest.param("SELECT * FROM users FOR UPDATE", id="row-locks"),
])
def test_a_gate_query_cannot_write(users_db: Any, query: str) -> None:
    with pytest.raises(DataQualityConfigError, match="read-only transaction"):
        run(gate(query=query, conn_id="dq_ro", build_data_docs=False))
    assert _rows(users_db) == 4


@pytest.mark.integration
def test_a_hostile_param_is_a_value_not_sql(users_db: Any) -> None:
    op = gate(query="SELECT :v AS v, count(*) AS n FROM users WHERE country <> :v", conn_id="dq_ro",
              query_params={"v": HOSTILE}, build_data_docs=False,
              expectations=[{"expect_column_values_to_be_in_set": {"column": "v", "value_set": [HOSTILE]}},
                            {"expect_column_values_to_be_in_set": {"column": "n", "value_set": [4]}}])
    assert run(op).pushed["return_value"]["status"] == "passed"  # the value came back as it was sent
    assert _rows(users_db) == 4


def test_the_query_is_never_rendered_only_its_params() -> None:
    from airflow.sdk.definitions._internal.templater import SandboxedEnvironment

    op = gate(query="SELECT * FROM users WHERE day = :day AND note = '{{ ds }}'", conn_id="dq_ro",
              query_params={"day": "{{ ds }}"})
    assert "query" not in op.template_fields
    op.render_template_fields({"ds": "2024-06-01"}, jinja_env=SandboxedEnvironment())
    assert op.query_params == {"day": "2024-06-01"}
    assert "'{{ ds }}'" in op.query


def test_several_statements_never_reach_the_database() -> None:
    with pytest.raises(DataQualityConfigError, match="one statement"):
        run(gate(query="SELECT 1; DROP TABLE users", conn_id="dq_never_opened", build_data_docs=False))


@pytest.mark.parametrize(
    ("kwargs", "env", "match"),
    [
        pytest.param({"path": "missing/events.parquet", "format": "parquet"}, {}, "does not exist",
                     id="file-missing"),
        pytest.param({"path": "missing/", "format": "csv"}, {}, "does not exist", id="folder-missing"),
        pytest.param({"query": "SELECT 1", "conn_id": "dq_down"},
                     {"AIRFLOW_CONN_DQ_DOWN": "postgresql://postgres@127.0.0.1:9/nothing"}, "unreachable",
                     id="database-down"),
    ],
)
def test_unreachable_source_is_retryable_not_a_quality_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], env: dict[str, str], match: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(DataSourceUnavailable, match=match) as exc:
        run(gate(base_dir=str(tmp_path), **kwargs))
    assert not isinstance(exc.value, AirflowFailException)  # Airflow retries it
    assert not isinstance(exc.value, DataQualityFailed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"query": "SELEC nonsense", "conn_id": "dq_pg"}, "query on 'dq_pg' failed", id="bad-sql"),
        pytest.param({"query": "SELECT 1", "conn_id": "dq_undefined"}, "'dq_undefined' does not exist; create it", id="no-connection"),
        pytest.param({"path": "x.csv", "format": "csv", "suite_path": "nope.json"}, "cannot be read",
                     id="suite-missing"),
        pytest.param({"path": "x.csv", "format": "csv",
                      "expectations": [{"expect_column_values_to_be_between": {"colum": "age"}}]},
                     "bad arguments for expect_column_values_to_be_between", id="bad-arguments"),
        pytest.param({"path": "x.parquet", "format": "parquet"}, "cannot be read as parquet", id="not-parquet"),
    ],
)
def test_broken_gate_fails_without_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str,
                                         kwargs: dict[str, Any], match: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DQ_PG", postgres_url)
    good_frame().to_csv(tmp_path / "x.csv", index=False)
    (tmp_path / "x.parquet").write_text("user_id\n1\n")
    with pytest.raises(DataQualityConfigError, match=match):
        run(gate(base_dir=str(tmp_path), build_data_docs=False, **kwargs))


def test_custom_expectations_module_from_deployment_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_gx_rules.py").write_text(textwrap.dedent("""
        import great_expectations as gx

        class ExpectAdultAge(gx.expectations.ExpectColumnValuesToBeBetween):
            column: str = "age"
            min_value: float = 18
            max_value: float = 120
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AIRFLOW__AIINFRA__GX_CUSTOM_EXPECTATIONS_MODULE", "my_gx_rules")
    good_frame().to_csv(tmp_path / "x.csv", index=False)
    ti = run(gate(path=str(tmp_path / "x.csv"), format="csv", expectations=[{"expect_adult_age": {}}],
                  build_data_docs=False))
    assert ti.pushed["return_value"]["status"] == "passed"
    monkeypatch.setenv("AIRFLOW__AIINFRA__GX_CUSTOM_EXPECTATIONS_MODULE", "no_such_module_here")
    with pytest.raises(DataQualityConfigError, match="no_such_module_here"):
        run(gate(path=str(tmp_path / "x.csv"), format="csv", build_data_docs=False))
    sys.modules.pop("my_gx_rules", None)


# --- samples: through Airflow's secrets masker, and off with [aiinfra] data_samples ----------------------------
TOKEN = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def _token_gate(tmp_path: Path) -> DataQualityOperator:
    (tmp_path / "creds.csv").write_text(f"user_id,api_key\n1,{TOKEN}\n2,ok-value\n")
    return gate(path="creds.csv", format="csv", base_dir=str(tmp_path), build_data_docs=False, on_failure="warn",
                expectations=[{"expect_column_values_to_match_regex": {"column": "api_key", "regex": "^ok-"}},
                              {"expect_column_values_to_be_in_set": {"column": "api_key", "value_set": ["ok-value"]}}])


def test_a_secret_in_the_data_reaches_neither_log_nor_xcom(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(TOKEN)  # as Airflow does for a connection's password or a sensitive Variable
    with caplog.at_level("INFO"):
        ti = run(_token_gate(tmp_path))
    pushed = json.dumps(ti.pushed)
    assert ti.pushed["return_value"]["status"] == "warn"
    assert TOKEN not in pushed and TOKEN not in caplog.text
    assert "***" in pushed  # the sample is there, masked: the mechanism ran, not an empty result


def test_data_samples_off_keeps_only_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIINFRA__DATA_SAMPLES", "False")
    result = run(_token_gate(tmp_path)).pushed["return_value"]
    assert "tok-" not in json.dumps(result)
    (failed, *_) = result["failed"]
    assert failed["unexpected_count"] == 1 and "unexpected_sample" not in failed
