"""Turn a folder of specs into DAGs inside one DAG file (one Airflow parse unit).

One broken spec never hides the others: it becomes a placeholder DAG and a log line.
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
from pathlib import Path
from typing import Any

from airflow_aiinfra import config
from airflow_aiinfra.bundle import bundle_root_for_dag_file
from airflow_aiinfra.errors import SpecError, SpecIssue
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.spec.files import spec_files
from airflow_aiinfra.spec.load import display_path, load_spec
from airflow_aiinfra.wiring.broken import BROKEN_PREFIX, broken_spec_dag, placeholder_dag_id

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
    dags: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for path in spec_files(root, shard, shards or 1, exclude=exclude):
        if wanted is not None and not wanted.startswith(BROKEN_PREFIX) and not may_produce(path, wanted):
            continue
        shown = display_path(path)
        try:
            loaded = load_spec(path, spec_options)
            plans = build_plans(loaded, options)
            clash = [p.dag_id for p in plans if p.dag_id in owners]
            if clash:
                raise _clash(shown, clash[0], owners[clash[0]])
            built = {p.dag_id: build_dag(p) for p in plans if wanted is None or wanted == p.dag_id}
        except SpecError as exc:
            _broken(dags, owners, path, shown, [str(i) for i in exc.issues], wanted)
            continue
        except Exception as exc:  # a bug of ours or Airflow's must not take the other specs down
            log.exception("aiinfra: building the DAGs of %s failed", shown)
            message = f"{shown}:1:1: <internal>: building DAGs failed: {type(exc).__name__}: {exc} (please report)"
            _broken(dags, owners, path, shown, [message], wanted)
            continue
        owners.update({p.dag_id: shown for p in plans})
        dags.update(built)
    if namespace is not None:
        namespace.update(dags)
    return dags


def _broken(dags: dict[str, Any], owners: dict[str, str], path: Path, shown: str, errors: list[str],
            wanted: str | None) -> None:
    """Log the errors and put a placeholder DAG carrying them where the spec's DAG would be."""
    for line in errors:
        log.error("aiinfra: %s", line)
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    dag_id = placeholder_dag_id(path, text, set(owners))
    if wanted is None or wanted == dag_id:
        dags[dag_id] = broken_spec_dag(dag_id, shown, errors)
    owners[dag_id] = shown


def _clash(shown: str, dag_id: str, other: str) -> SpecError:
    return SpecError([SpecIssue(shown, 1, 1, "name", f"DAG id {dag_id!r} is already produced by {other}; "
                                "give this spec another name")])
