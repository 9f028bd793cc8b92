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


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("{{ ds }}", id="plain"),
        pytest.param("a {{ds_nodash}}/b/{{ params.lr }}", id="several"),
        pytest.param("{{ ds }}{{ ts }}", id="adjacent"),
        pytest.param("}}{{ ds }}", id="closing-before"),
        pytest.param("{{{ ds }}", id="brace-before"),
        pytest.param("{{ ds }}}", id="brace-after"),
        pytest.param("{{ dsx }}", id="prefix-of-allowed"),
        pytest.param("{{ params._x }}", id="private-param"),
        pytest.param("{{ params.x }} {{ conn.y }}", id="mixed"),
        pytest.param("{{ ds }} {% if x %}{% endif %}", id="statement-after"),
        pytest.param("{{ ds }} {# note #}", id="comment"),
        pytest.param("{{- ds -}}", id="whitespace-control"),
        pytest.param("{{ ds\n}}", id="newline"),
    ],
)
def test_fast_path_agrees_with_jinja(value: str) -> None:
    """The parse-time fast path for plain names never accepts what Jinja's full check rejects."""
    from airflow_aiinfra.spec.templates import _check_jinja

    assert check_template(value) == _check_jinja.__wrapped__(value)
