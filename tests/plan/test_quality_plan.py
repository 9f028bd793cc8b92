"""Where gates sit in the pipeline DAG: before/after stages, and before the roots by default."""

from __future__ import annotations

import textwrap

import pytest

from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.spec.load import load_spec_text

STAGES = """\
name: dq
defaults: {retries: 3, retry_delay: 5s}
training_pipeline:
  stages:
    - {name: ingest, image: x}
    - {name: labels, image: x}
    - {name: prepare, image: x, depends_on: [ingest, labels]}
    - {name: train, image: x, depends_on: [prepare]}
    - {name: evaluate, image: x, depends_on: [train]}
data_quality:
  gates:
"""
EXP = "expectations: [expect_table_row_count_to_be_between: {min_value: 1}]"


def plan(gates: str) -> DagPlan:
    text = STAGES + textwrap.indent(textwrap.dedent(gates).replace("EXP", EXP), "    ")
    loaded = load_spec_text(text, "dq.yaml")
    return build_plans(loaded, PlanOptions(bundle_root="/bundle"))[0]


def upstream(p: DagPlan, task_id: str) -> set[str]:
    return set(p.task(task_id).upstream)


@pytest.mark.parametrize(
    ("gate", "edges"),
    [
        pytest.param(
            "- {name: g, data: {path: a.csv}, EXP}",
            {"data_quality.g": set(), "training.ingest": {"data_quality.g"}, "training.labels": {"data_quality.g"},
             "training.prepare": {"training.ingest", "training.labels"}},
            id="neither-runs-before-every-root-stage",
        ),
        pytest.param(
            "- {name: g, data: {path: a.csv}, before: [train], EXP}",
            {"data_quality.g": set(), "training.train": {"training.prepare", "data_quality.g"},
             "training.ingest": set()},
            id="before",
        ),
        pytest.param(
            "- {name: g, data: {path: a.csv}, after: [prepare], EXP}",
            {"data_quality.g": {"training.prepare"}, "training.train": {"training.prepare", "data_quality.g"},
             "training.evaluate": {"training.train"}},
            id="after-only-holds-back-the-consumers",
        ),
        pytest.param(
            "- {name: g, data: {path: a.csv}, after: [ingest], before: [train], EXP}",
            {"data_quality.g": {"training.ingest"}, "training.prepare": {"training.ingest", "training.labels"},
             "training.train": {"training.prepare", "data_quality.g"}},
            id="between",
        ),
    ],
)
def test_gate_placement(gate: str, edges: dict[str, set[str]]) -> None:
    p = plan(gate)
    for task_id, expected in edges.items():
        assert upstream(p, task_id) == expected, task_id


def test_gate_task_carries_what_the_operator_needs() -> None:
    p = plan("""\
        - name: events
          data: {path: "data/{{ ds }}/events.csv"}
          on_failure: warn
          before: [train]
          expectations:
            - expect_column_values_to_not_be_null: {column: user_id}
            - expect_table_row_count_to_be_between:
        """)
    task = p.task("data_quality.events")
    assert (task.kind, task.group, task.name) == ("dq_gate", "data_quality", "events")
    assert task.retries == 3 and task.retry_delay.total_seconds() == 5
    assert task.payload.kwargs() == {
        "gate": "events", "path": "data/{{ ds }}/events.csv", "format": "csv", "query": None, "conn_id": None,
        "query_params": {},
        "expectations": [{"expect_column_values_to_not_be_null": {"column": "user_id"}},
                         {"expect_table_row_count_to_be_between": {}}],
        "suite_path": None, "on_failure": "warn", "base_dir": "/bundle",
    }


def test_gate_only_spec_makes_a_pipeline_of_gates() -> None:
    loaded = load_spec_text(textwrap.dedent(f"""\
        name: checks
        data_quality:
          gates:
            - {{name: a, data: {{query: "SELECT 1", conn_id: pg}}, {EXP}}}
            - {{name: b, data: {{path: b.parquet}}, {EXP}}}
        """), "checks.yaml")
    (p,) = build_plans(loaded)
    assert [t.task_id for t in p.tasks] == ["data_quality.a", "data_quality.b"]
    assert all(not t.upstream for t in p.tasks)
