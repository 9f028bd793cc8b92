"""The routing-condition language: parsed by a tiny parser, never eval'd."""

from __future__ import annotations

import pytest

from airflow_aiinfra.spec.routing import RoutingSyntaxError, evaluate, parse_condition, variables


@pytest.mark.parametrize(
    ("condition", "attrs", "expected"),
    [
        pytest.param("user_type == 'premium'", {"user_type": "premium"}, True, id="eq"),
        pytest.param("user_type == 'premium'", {"user_type": "free"}, False, id="eq-false"),
        pytest.param("default", {}, True, id="default"),
        pytest.param("country in ['de', 'fr'] and age >= 18", {"country": "de", "age": 30}, True, id="in-and"),
        pytest.param("not (tier != 'gold' or beta == true)", {"tier": "gold", "beta": False}, True, id="not-or"),
        pytest.param("country not in ['us']", {"country": "de"}, True, id="not-in"),
        pytest.param("score > 0.5", {}, False, id="missing-attribute"),
    ],
)
def test_evaluate(condition: str, attrs: dict, expected: bool) -> None:
    assert evaluate(parse_condition(condition), attrs) is expected


@pytest.mark.parametrize(
    ("condition", "match"),
    [
        pytest.param("user_type = 'premium'", "unexpected", id="single-equals"),
        pytest.param("__import__('os').system('ls')", "unexpected", id="call"),
        pytest.param("a ==", "ends too early", id="truncated"),
        pytest.param("", "empty condition", id="empty"),
        pytest.param("(a == 1", "ends too early", id="unbalanced"),
    ],
)
def test_syntax_errors(condition: str, match: str) -> None:
    with pytest.raises(RoutingSyntaxError, match=match):
        parse_condition(condition)


def test_variables() -> None:
    assert variables(parse_condition("a == 1 and b in [c, 'x']")) == {"a", "b", "c"}
