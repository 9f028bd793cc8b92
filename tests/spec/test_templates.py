"""Jinja in specs is limited to run values: a spec can never render a secret."""

from __future__ import annotations

import pytest

from airflow_aiinfra.spec.templates import check_template


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("plain", id="no-template"),
        pytest.param("s3://bucket/{{ ds }}/part", id="ds"),
        pytest.param("{{ data_interval_start }}..{{ data_interval_end }}", id="interval"),
        pytest.param("{{ params.lr }}", id="params"),
        pytest.param("{{ run_id | replace(':', '_') }}", id="builtin-filter"),
        pytest.param("{{ logical_date.strftime }}", id="attribute"),
    ],
)
def test_allowed(value: str) -> None:
    assert check_template(value) is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param("{{ conn.db.password }}", "'conn'", id="conn"),
        pytest.param("{{ var.value.token }}", "'var'", id="var"),
        pytest.param("{{ macros.ds_add(ds, 1) }}", "'macros'", id="macros"),
        pytest.param("{{ ti.xcom_pull('x') }}", "'ti'", id="ti"),
        pytest.param("{{ ds.__class__ }}", "private attribute", id="dunder"),
        pytest.param("{{ params.x() }}", "may not call", id="call"),
        pytest.param("{% for x in conf %}{% endfor %}", "'conf'", id="statement"),
        pytest.param("{{ ds ", "invalid Jinja", id="syntax"),
    ],
)
def test_rejected(value: str, match: str) -> None:
    problem = check_template(value)
    assert problem is not None and match in problem
