"""A placeholder DAG for a spec that does not load: visible in the UI, its docs and only task carry the errors."""

from __future__ import annotations

import re
from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_aiinfra.plan.dags import pipeline_dag_id
from airflow_aiinfra.spec.types import _slug

BROKEN_TAG = "aiinfra:broken-spec"
BROKEN_PREFIX = "aiinfra_broken__"
_NAME_LINE = re.compile(r"^name:\s*[\"']?([a-z0-9][a-z0-9_-]{0,61}[a-z0-9]?)[\"']?\s*(#.*)?$", re.MULTILINE)


def placeholder_dag_id(path: Path, text: str | None, taken: set[str]) -> str:
    """The spec's own pipeline DAG id when its name can be read, else one derived from the file name."""
    m = _NAME_LINE.search(text or "")
    if m and pipeline_dag_id(m.group(1)) not in taken:
        return pipeline_dag_id(m.group(1))
    return f"{BROKEN_PREFIX}{_slug(path.stem)}"


def broken_spec_dag(dag_id: str, spec_file: str, errors: list[str]) -> DAG:
    from airflow_aiinfra.operators.spec_error import SpecErrorOperator

    listing = "\n".join(f"    {e}" for e in errors)
    dag = DAG(
        dag_id=dag_id,
        description=f"BROKEN SPEC {spec_file}: {len(errors)} error(s)",
        schedule=None,
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
        tags=["aiinfra", BROKEN_TAG],
        doc_md=f"## Spec `{spec_file}` does not load\n\nFix these and the real DAG replaces this one "
        f"(`aiinfra validate {spec_file}` prints the same list):\n\n{listing}\n",
    )
    SpecErrorOperator(task_id="spec_error", spec_file=spec_file, errors=errors, dag=dag)
    return dag
