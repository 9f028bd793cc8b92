"""Jinja in specs is an allow-list of grammar: run values, a few filters, raw blocks. Nothing else parses as
valid, nothing is ever evaluated while checking, and a spec can never render a secret or a file."""

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
        pytest.param("{{ params['lr'] }}", id="constant-subscript"),
        pytest.param("{{ ds | replace('-', '') | upper }}", id="filter-chain"),
        pytest.param("{{ params.n | default(3) | int }}", id="default-int"),
        pytest.param("{% raw %}{{ not a template }}{% endraw %}", id="raw-escape"),
        pytest.param("a {# comment #} {{ ds }}", id="comment"),
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
        pytest.param("{% for x in conf %}{% endfor %}", "'{% for %}' statements are not allowed", id="for"),
        pytest.param("{{ ds ", "invalid Jinja", id="syntax"),
        pytest.param("{% include 'aiinfra_dags.py' %}", "'{% include %}' statements", id="include"),
        pytest.param("{% import 'x' as y %}", "'{% import %}' statements", id="import"),
        pytest.param("{% extends 'x' %}", "'{% extends %}' statements", id="extends"),
        pytest.param("{% macro m() %}{% endmacro %}", "'{% macro %}' statements", id="macro"),
        pytest.param("{% set x = ds %}", "'{% set %}' statements", id="set"),
        pytest.param("{% if ds %}x{% endif %}", "'{% if %}' statements", id="if"),
        pytest.param("{{ 3 ** 60000000 }}", "may not compute", id="power-bomb"),
        pytest.param("{{ 'x' * 600000000 }}", "may not compute", id="string-bomb"),
        pytest.param("{{ 'ab' * 3 }}", "may not compute", id="constant-arithmetic"),
        pytest.param("{{ ds ~ ds }}", "may not compute", id="concat"),
        pytest.param("{{ ds | attr('__class__') }}", "filter 'attr' is not allowed", id="attr-filter"),
        pytest.param("{{ ds | replace(ds, 'x') }}", "plain constants", id="filter-argument"),
        pytest.param("{{ ds is defined }}", "may not test", id="test"),
        pytest.param("{{ 'literal' }}", "not constants", id="constant"),
        pytest.param("{{ params[ds] }}", "subscripts must be constants", id="dynamic-subscript"),
        pytest.param("{{ " + "(" * 3000 + "ds" + ")" * 3000 + " }}", "longer than 4096", id="long"),
        pytest.param("{{ " + "(" * 1000 + "ds" + ")" * 1000 + " }}", "nests too deeply", id="deep"),
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
    from airflow_aiinfra.spec.templates import _check_tree

    assert check_template(value) == _check_tree.__wrapped__(value)
