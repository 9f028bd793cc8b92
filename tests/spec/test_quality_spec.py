"""data_quality in specs: expectation names and arguments are checked against the catalog generated
from GX, with file positions and "did you mean", and without importing great_expectations."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.checks.quality import catalog
from airflow_aiinfra.spec.load import load_spec_text
from tests.conftest import ROOT

HEAD = """\
name: dq
training_pipeline:
  stages:
    - {name: prepare, image: x}
    - {name: train, image: x, depends_on: [prepare]}
data_quality:
  gates:
"""


def spec(gates: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(gates), "    ")


def issues(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "dq.yaml")
    return [str(i) for i in exc.value.issues]


GOOD = """\
- name: events
  data: {path: "data/{{ ds }}/events.parquet"}
  after: [prepare]
  expectations:
    - expect_column_values_to_not_be_null: {column: user_id}
    - expect_column_values_to_be_between: {column: age, min_value: 0, max_value: 120, mostly: 0.99}
    - expect_table_row_count_to_be_between:
    - expect_column_values_to_be_in_set: {column: country, value_set: [DE, FR], severity: warning}
- name: users
  data: {query: "SELECT * FROM users WHERE day = :day", conn_id: warehouse, params: {day: "{{ ds }}"}}
  suite_path: suites/users.json
  on_failure: warn
"""


def test_valid_gates_load_and_infer_the_format() -> None:
    gates = load_spec_text(spec(GOOD), "dq.yaml").spec.data_quality.gates
    assert gates[0].data.format == "parquet"
    assert gates[0].expectation_items()[2] == ("expect_table_row_count_to_be_between", {})
    assert gates[1].on_failure == "warn" and gates[1].data.format is None


def test_parsing_a_spec_imports_no_heavy_library() -> None:
    code = textwrap.dedent(f"""
        import sys
        from airflow_aiinfra.spec.load import load_spec_text
        load_spec_text({spec(GOOD)!r}, "dq.yaml")
        heavy = [m for m in ("great_expectations", "pandas", "mlflow", "feast", "airflow") if m in sys.modules]
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("gates", "expected"),
    [
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - expect_column_values_to_not_be_nul: {column: user_id}
            """,
            "dq.yaml:11:11: data_quality.gates[0].expectations[0]: unknown expectation "
            "'expect_column_values_to_not_be_nul'; did you mean 'expect_column_values_to_not_be_null'?",
            id="unknown-expectation",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - check_everything: {}
            """,
            "dq.yaml:11:11: data_quality.gates[0].expectations[0]: unknown expectation 'check_everything'; "
            "see https://greatexpectations.io/expectations/",
            id="unknown-expectation-no-close-match",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - expect_column_values_to_be_between:
                    colum: age
            """,
            "dq.yaml:12:20: data_quality.gates[0].expectations[0].expect_column_values_to_be_between.colum: "
            "unknown argument 'colum' for expect_column_values_to_be_between; did you mean 'column'?",
            id="unknown-argument",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - expect_column_values_to_be_in_set: {column: c}
            """,
            "dq.yaml:11:11: data_quality.gates[0].expectations[0]: expect_column_values_to_be_in_set needs "
            "argument 'value_set' (required: column, value_set)",
            id="missing-argument",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - expect_column_values_to_not_be_null: {column: a, mostly: lots}
            """,
            "dq.yaml:11:68: data_quality.gates[0].expectations[0].expect_column_values_to_not_be_null.mostly: "
            "argument 'mostly' of expect_column_values_to_not_be_null must be a number, got 'lots'",
            id="wrong-type",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - expect_column_values_to_not_be_null: {column: a, mostly: 1.5}
            """,
            "dq.yaml:11:68: data_quality.gates[0].expectations[0].expect_column_values_to_not_be_null.mostly: "
            "argument 'mostly' of expect_column_values_to_not_be_null must be at most 1.0, got 1.5",
            id="out-of-range",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - expect_column_to_exist: {column: a, severity: critcal}
            """,
            "dq.yaml:11:57: data_quality.gates[0].expectations[0].expect_column_to_exist.severity: argument "
            "'severity' of expect_column_to_exist is 'critcal'; use one of ['critical', 'warning', 'info']; "
            "did you mean 'critical'?",
            id="bad-enum",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              expectations:
                - {expect_column_to_exist: {column: a}, expect_column_values_to_be_unique: {column: a}}
            """,
            "dq.yaml:11:11: data_quality.gates[0].expectations[0]: each entry is one 'expect_name: {arguments}' "
            "mapping, got 'expect_column_to_exist', 'expect_column_values_to_be_unique'",
            id="two-in-one-entry",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: data/events/}
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:9:13: data_quality.gates[0].data: cannot tell the format of 'data/events/' from its "
            "extension; add format: parquet or csv",
            id="folder-without-format",
        ),
        pytest.param(
            """\
            - name: g
              data: {query: "SELECT 1"}
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:9:13: data_quality.gates[0].data: a 'query' needs 'conn_id'",
            id="query-without-connection",
        ),
        pytest.param(
            """\
            - name: g
              data: {query: "SELECT * FROM t WHERE day = :day AND n > :n", conn_id: pg, params: {day: "{{ ds }}"}}
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:9:21: data_quality.gates[0].data.query: placeholder ':n' has no value: add it under 'params' "
            "(given: day)",
            id="unknown-placeholder",
        ),
        pytest.param(
            """\
            - name: g
              data: {query: "SELECT 1", conn_id: pg, params: {day: "{{ ds }}"}}
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:9:60: data_quality.gates[0].data.params.day: param 'day' is not used by the query; write "
            "':day' where it goes, or remove it",
            id="unused-param",
        ),
        pytest.param(
            """\
            - name: g
              data: {query: "SELECT * FROM t WHERE day = '{{ ds }}'", conn_id: pg}
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:9:21: data_quality.gates[0].data.query: the SQL text is not templated: run values are bound "
            "parameters",
            id="templated-sql",
        ),
        pytest.param(
            """\
            - name: g
              data: {query: "SELECT 1; DROP TABLE t", conn_id: pg}
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:9:21: data_quality.gates[0].data.query: a gate query is one statement",
            id="two-statements",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              suite_path: suites/users.yaml
            """,
            "dq.yaml:10:19: data_quality.gates[0].suite_path: 'suites/users.yaml' is not a GX expectation suite "
            "file (*.json)",
            id="suite-not-json",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              after: [train]
              before: [prepare]
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:11:16: data_quality.gates[0].before[0]: stage 'prepare' runs before 'train' (depends_on), "
            "so the gate cannot be after 'train' and before 'prepare': that is a cycle",
            id="order-cycle",
        ),
        pytest.param(
            """\
            - name: g
              data: {path: a.csv}
              before: [trian]
              expectations: [expect_table_row_count_to_be_between: {min_value: 1}]
            """,
            "dq.yaml:10:16: data_quality.gates[0].before[0]: unknown stage 'trian'; did you mean 'train'?",
            id="unknown-stage",
        ),
    ],
)
def test_spec_errors_name_file_line_and_fix(gates: str, expected: str) -> None:
    found = issues(spec(gates))
    assert any(i.startswith(expected) for i in found), "\n".join(found)


def test_custom_expectation_names_pass_when_the_deployment_configures_a_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = spec("""\
        - name: g
          data: {path: a.csv}
          expectations: [expect_valid_passenger_count: {}]
        """)
    from airflow_aiinfra import config

    with pytest.raises(SpecError, match="unknown expectation 'expect_valid_passenger_count'"):
        load_spec_text(text, "dq.yaml", options=config.spec_options())
    monkeypatch.setenv("AIRFLOW__AIINFRA__GX_CUSTOM_EXPECTATIONS_MODULE", "my_company.gx_rules")
    assert load_spec_text(text, "dq.yaml", options=config.spec_options()).spec.data_quality is not None


def test_catalog_covers_the_installed_gx() -> None:
    """The committed catalog is what scripts/gen_gx_expectations.py makes from the installed GX."""
    cat = catalog()
    assert len(cat["expectations"]) >= 50
    out = subprocess.run([sys.executable, "scripts/gen_gx_expectations.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True, env={"GX_ANALYTICS_ENABLED": "False", "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
