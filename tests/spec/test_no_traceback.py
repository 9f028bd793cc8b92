"""Whatever junk a value holds, loading (and planning) a spec ends in a SpecError (located, one line per
issue) or in a valid plan, never in another exception: every key of the example specs gets each junk value in turn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec_text
from tests.conftest import FIXTURES, ROOT

JUNK: list[Any] = [None, -1, 1.5, True, "", "x" * 300, "{{ conn.x.password }}", [], [1, "a"], {}, {"zz": 1}]
SPECS = [ROOT / "specs" / "recsys.yaml", FIXTURES / "seed_spec.yaml", FIXTURES / "full_stage_spec.yaml"]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def replaced(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (replaced(v, rest, value) if k == head else v) for k, v in node.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(node)]


def junk_variants(spec_path) -> Iterator[tuple[tuple, str]]:
    """(key path, spec text) for every key of the spec holding each junk value in turn."""
    data = yaml.safe_load(spec_path.read_text())
    for path in paths(data):
        for junk in JUNK:
            yield path, yaml.safe_dump(replaced(data, path, junk), allow_unicode=True, sort_keys=False)


@pytest.mark.parametrize("spec_path", [pytest.param(p, id=p.name) for p in SPECS])
def test_junk_values_give_spec_errors_only(spec_path) -> None:
    checked = 0
    for path, text in junk_variants(spec_path):
        try:
            build_plans(load_spec_text(text, "junk.yaml"))  # a spec that loads must also plan
        except SpecError as exc:
            assert exc.issues, path
            for issue in exc.issues:
                line = str(issue)
                assert line.startswith("junk.yaml:") and "\n" not in line, line
        checked += 1
    assert checked > 100

