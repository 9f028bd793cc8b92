"""A gate query's one reading (airflow_aiinfra.sql.scan): placeholders in code only, one statement, no templates."""

from __future__ import annotations

import pytest

from airflow_aiinfra.sql import param_problems, scan


@pytest.mark.parametrize("query, names", [
    pytest.param("SELECT * FROM t WHERE d = :day AND n::int > :n", ("day", "n"), id="placeholders-and-cast"),
    pytest.param("SELECT ':no', \"a:b\", $q$ :no $q$, E'\\' :no' FROM t -- :no\nWHERE x = :yes /* :no */",
                 ("yes",), id="literals-identifiers-dollar-comments"),
    pytest.param("SELECT arr[1:n] FROM t", (), id="slice"),
])
def test_placeholders_are_found_only_in_code(query: str, names: tuple[str, ...]) -> None:
    scanned = scan(query)
    assert scanned.names == names and scanned.problem is None
    import sqlalchemy

    assert set(sqlalchemy.text(scanned.text).compile().params) == set(names)  # SQLAlchemy sees the same ones


@pytest.mark.parametrize("query, problem", [
    pytest.param("SELECT 1; DROP TABLE t", "one statement", id="two-statements"),
    pytest.param("SELECT 1 /* /* */ ; DROP TABLE t */", "nested", id="nested-comment"),
    pytest.param("SELECT * FROM t WHERE d = '{{ ds }}'", "not templated", id="template"),
])
def test_refused(query: str, problem: str) -> None:
    assert problem in (scan(query).problem or "")


def test_one_statement_may_end_with_a_semicolon_and_a_comment() -> None:
    assert scan("SELECT 1; -- done\n").problem is None


def test_params_and_placeholders_match() -> None:
    assert param_problems("SELECT :a", {"b": 1}) == [
        (None, "placeholder ':a' has no value: add it under 'params' (given: b)"),
        ("b", "param 'b' is not used by the query; write ':b' where it goes, or remove it")]
