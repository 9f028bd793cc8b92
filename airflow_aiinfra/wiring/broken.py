"""A placeholder DAG for a spec that does not load: visible in the UI, its docs and only task carry the errors."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_aiinfra.plan.build import dag_ids_of

BROKEN_TAG = "aiinfra:broken-spec"
BROKEN_PREFIX = "aiinfra_broken__"
_NAME_LINE = re.compile(r"^name:[ \t]*[\"']?([a-z0-9][a-z0-9_-]{0,61}[a-z0-9]?)[\"']?[ \t]*(#.*)?$", re.MULTILINE)
_SECTION_LINE = re.compile(r"^([a-z_]+)[ \t]*:", re.MULTILINE)
_MAX_ID = 200  # Airflow allows 250 characters in a DAG id


def would_be_dag_ids(text: str | None) -> list[str]:
    """The DAG ids a broken spec would have produced, read cheaply from its top-level ``name:`` line and which
    top-level sections appear; empty when its name cannot be read that way."""
    names = _NAME_LINE.findall(text or "")
    if len(names) != 1:
        return []
    return dag_ids_of(names[0][0], set(_SECTION_LINE.findall(text or "")))


def path_placeholder_id(relative: Path, taken: set[str]) -> str:
    """A placeholder id of its own for a spec file, from its path relative to the specs folder (folders
    joined by ``.``), so two broken ``x.yaml`` in two team folders show twice; never one already taken."""
    parts = [re.sub(r"[^a-z0-9_-]+", "_", p.lower()).strip("_-") or "_" for p in relative.with_suffix("").parts]
    base = (BROKEN_PREFIX + ".".join(parts))[:_MAX_ID]
    if base not in taken:
        return base
    tagged = f"{base[: _MAX_ID - 9]}_{zlib.crc32(relative.as_posix().encode()):08x}"
    n, dag_id = 1, tagged
    while dag_id in taken:
        n += 1
        dag_id = f"{tagged}_{n}"
    return dag_id


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
