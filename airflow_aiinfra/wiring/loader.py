"""Turn a folder of specs into DAGs inside one DAG file (one Airflow parse unit).

One broken spec never hides the others: it becomes a placeholder DAG and a log line. Every spec is loaded
before any DAG id is given out (``_assign``): valid specs own their ids first, so a broken draft reusing a
valid spec's name never takes its DAG; a broken spec shows a placeholder under every id it would have produced
that is still free, else one derived from its path (``aiinfra_broken__team_a.model``), never one already taken.
Large deployments split specs across parse units: one loader file per subfolder
(``load_dags(globals(), folder="specs/team_a")``) or hash shards (``shard=i``,
``[aiinfra] parse_shards``; see ``aiinfra shards``).

On a worker, Airflow's parsing context names the one DAG it needs: only the spec that DAG comes from is read
and built (a cheap look at each file's ``name:`` line decides which), not every spec of the unit.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_aiinfra import config
from airflow_aiinfra.bundle import bundle_root_for_dag_file
from airflow_aiinfra.errors import SpecError, SpecIssue
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.spec.files import spec_files
from airflow_aiinfra.spec.load import display_path, load_spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.wiring.broken import (
    BROKEN_PREFIX,
    broken_spec_dag,
    path_placeholder_id,
    would_be_dag_ids,
)

log = logging.getLogger("airflow_aiinfra")

# A spec's top-level `name:` as written on its own line (the common case); anything else reads the whole spec.
_NAME_LINE = re.compile(rb"^name:[ \t]*[\"']?([a-z0-9][a-z0-9_-]{0,62})[\"']?[ \t]*(?:#.*)?$", re.MULTILINE)


def default_specs_folder(dag_file: str | None) -> Path:
    configured = config.specs_folder()
    if configured is not None:
        return configured
    base = Path(dag_file).resolve().parent if dag_file else Path.cwd() / "dags"
    return base.parent / "specs"


def _wanted_dag_id() -> str | None:
    """On a worker, Airflow says which DAG it parses for: build only that one."""
    from airflow.sdk import get_parsing_context

    return get_parsing_context().dag_id


def may_produce(path: Path, wanted: str) -> bool:
    """False only when the file's ``name:`` line shows it cannot produce DAG ``wanted`` (ids are
    ``<name>__<suffix>``); a file whose name cannot be read this cheaply is loaded to find out."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return True
    names = _NAME_LINE.findall(head)
    if len(names) != 1:
        return True
    return wanted.startswith(names[0].decode() + "__")


def load_dags(
    namespace: dict[str, Any] | None = None,
    folder: str | os.PathLike[str] | None = None,
    *,
    shard: int | None = None,
    shards: int | None = None,
    exclude: Iterable[str] = (),
    bundle_root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Build the DAGs of every spec in ``folder`` and put them into ``namespace`` (a DAG file's globals).

    ``exclude`` skips subfolders (relative to ``folder``) that have loader files of their own.
    ``bundle_root`` is where stage commands and relative paths in specs resolve under the local runner:
    by default the folder above the DAG file's folder (``airflow_aiinfra.bundle``).
    """
    dag_file = (namespace or {}).get("__file__")
    root = Path(folder) if folder else default_specs_folder(dag_file)
    if shard is not None and shards is None:
        shards = config.parse_shards()
    if not root.is_dir():
        log.error("aiinfra: specs folder %s does not exist; set [aiinfra] specs_folder", root)
        return {}
    from airflow_aiinfra.wiring.dag import build_dag

    wanted = _wanted_dag_id()
    if bundle_root is None:
        bundle_root = bundle_root_for_dag_file(dag_file) if dag_file else root.resolve().parent
    options = PlanOptions(default_uid=config.default_uid(), bundle_root=str(bundle_root))
    spec_options = config.spec_options()
    results = [_load(path, spec_options, options) for path in spec_files(root, shard, shards or 1, exclude=exclude)
               if wanted is None or wanted.startswith(BROKEN_PREFIX) or may_produce(path, wanted)]
    dags = _assign(results, root, wanted, build_dag)
    if namespace is not None:
        namespace.update(dags)
    return dags


@dataclass
class _Result:
    """One spec file, loaded: its plans, or the errors that make it a placeholder."""

    path: Path
    shown: str
    plans: list[DagPlan] = field(default_factory=list)
    errors: list[str] | None = None


def _load(path: Path, spec_options: SpecOptions, options: PlanOptions) -> _Result:
    shown = display_path(path)
    try:
        return _Result(path, shown, build_plans(load_spec(path, spec_options), options))
    except SpecError as exc:
        return _Result(path, shown, errors=[str(i) for i in exc.issues])
    except Exception as exc:  # a bug of ours must not take the other specs down
        return _Result(path, shown, errors=[_internal(shown, "building plans", exc)])


def _assign(results: list[_Result], root: Path, wanted: str | None, build_dag: Any) -> dict[str, Any]:
    """DAG ids once every spec is loaded: valid specs first (in file order; a later spec reusing a name is the
    broken one), then each broken spec's would-be ids that are still free, then a path-derived placeholder for a
    broken spec that got none. So no broken draft takes a valid spec's DAG, and none vanishes."""
    owners: dict[str, str] = {}
    for r in results:
        if r.errors is None:
            clash = [p.dag_id for p in r.plans if p.dag_id in owners]
            if clash:
                r.errors, r.plans = [str(i) for i in _clash(r.shown, clash[0], owners[clash[0]]).issues], []
            else:
                owners.update({p.dag_id: r.shown for p in r.plans})
    dags: dict[str, Any] = {}
    for r in results:
        if r.errors is None:
            try:
                dags.update({p.dag_id: build_dag(p) for p in r.plans if wanted is None or wanted == p.dag_id})
            except Exception as exc:  # a bug of ours or Airflow's: the spec's own ids show the error
                r.errors = [_internal(r.shown, "building DAGs", exc)]
                for dag_id in (p.dag_id for p in r.plans):
                    _placeholder(dags, r, dag_id, wanted)
    broken = [r for r in results if r.errors is not None and not r.plans]
    homeless = []
    for r in broken:
        for line in r.errors or []:
            log.error("aiinfra: %s", line)
        text = _head(r.path)
        ids = [i for i in would_be_dag_ids(text) if i not in owners]
        for dag_id in ids:
            owners[dag_id] = r.shown
            _placeholder(dags, r, dag_id, wanted)
        if not ids:
            homeless.append(r)
    for r in homeless:
        dag_id = path_placeholder_id(_relative(r.path, root), set(owners))
        owners[dag_id] = r.shown
        _placeholder(dags, r, dag_id, wanted)
    return dags


def _placeholder(dags: dict[str, Any], r: _Result, dag_id: str, wanted: str | None) -> None:
    if wanted is None or wanted == dag_id:
        dags[dag_id] = broken_spec_dag(dag_id, r.shown, r.errors or [])


def _head(path: Path) -> str | None:
    """The start of a spec file (where its ``name:`` and sections are), whatever the file holds."""
    try:
        with open(path, "rb") as fh:
            return fh.read(config.spec_options().max_bytes).decode("utf-8", errors="replace")
    except OSError:
        return None


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return Path(path.name)


def _internal(shown: str, what: str, exc: Exception) -> str:
    log.exception("aiinfra: %s of %s failed", what, shown)
    return f"{shown}:1:1: <internal>: {what} failed: {type(exc).__name__}: {exc} (please report)"


def _clash(shown: str, dag_id: str, other: str) -> SpecError:
    return SpecError([SpecIssue(shown, 1, 1, "name", f"DAG id {dag_id!r} is already produced by {other}; "
                                "give this spec another name")])
