"""Validation grows about linearly with the size of a spec, for the inputs that used to be quadratic or to
recurse: typos against many names, long dependency chains, many aliases of one anchor, many distinct
templates, many routing rules. Each case is timed at n and 4n (CPU time, best of three); a linear check
takes about 4x, a quadratic one 16x: the guard is 8x. A guard, not a timing assertion: absolute times
are not checked."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.load import load_spec_text

RATIO_GUARD = 8.0


def typos(n: int) -> str:
    return "name: g\ntraining_pipeline:\n  stages:\n" + "".join(
        f"    - {{name: stage_{i}, image: x, depends_on: [stgae_{i}]}}\n" for i in range(n))


def reverse_chain(n: int) -> str:
    return "name: g\ntraining_pipeline:\n  stages:\n" + "".join(
        f"    - {{name: s{i}, image: x" + (f", depends_on: [s{i + 1}]" if i < n - 1 else "") + "}\n" for i in range(n))


def aliases(n: int) -> str:
    return ("name: g\ntraining_pipeline:\n  stages:\n    - name: a\n      image: x\n      env: &env {A: \"{{ ds }}\", "
            "B: \"{{ params.x }}\"}\n" + "".join(f"    - {{name: s{i}, image: x, env: *env}}\n" for i in range(n)))


def templates(n: int) -> str:
    return "name: g\ntraining_pipeline:\n  stages:\n    - name: a\n      image: x\n      args:\n" + "".join(
        f"        - \"{{{{ params.p{i} | default('v{i}') }}}}\"\n" for i in range(n))


def gate_lists(n: int) -> str:
    stages = "".join(f"    - {{name: s{i}, image: x}}\n" for i in range(n))
    names = ", ".join(f"s{i}" for i in range(n // 2))
    after = ", ".join(f"s{i}" for i in range(n // 2, n))
    return (f"name: g\ntraining_pipeline:\n  stages:\n{stages}data_quality:\n  gates:\n    - name: q\n"
            f"      data: {{path: a.csv}}\n      before: [{names}]\n      after: [{after}]\n"
            "      expectations: [expect_table_row_count_to_be_between: {min_value: 1}]\n")


def routing(n: int) -> str:
    rules = "".join(f"    - {{condition: \"user == 'u{i}' and not (tier in ['a', 'b'])\", target_version: v1}}\n"
                    for i in range(n))
    return ("name: g\nmodel_serving:\n  versions: [{version: v1, weight: 100}]\n  routing_rules:\n" + rules)


def _seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        try:
            load_spec_text(text, "g.yaml")
        except SpecError:
            pass
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize(("make", "n"), [
    pytest.param(typos, 400, id="dependency-typos"),
    pytest.param(reverse_chain, 400, id="reverse-chain"),
    pytest.param(aliases, 500, id="aliases-of-one-anchor"),
    pytest.param(templates, 300, id="distinct-templates"),
    pytest.param(gate_lists, 400, id="gate-before-after"),
    pytest.param(routing, 800, id="routing-rules"),
])
def test_validation_time_grows_about_linearly(make: Callable[[int], str], n: int) -> None:
    _seconds(make(n // 4))  # warm-up: imports, section models
    small, large = _seconds(make(n)), _seconds(make(4 * n))
    assert large / max(small, 1e-3) < RATIO_GUARD, f"{n}: {small:.3f}s, {4 * n}: {large:.3f}s"
