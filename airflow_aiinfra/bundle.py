"""The DAG bundle's root: where stage commands run under the local runner and relative paths in specs resolve.

A bundle holds ``dags/`` and ``specs/`` side by side (docs/deployment.md), so its root is the folder above
either. This is the only place that says so.
"""

from __future__ import annotations

from pathlib import Path


def bundle_root_for_dag_file(dag_file: str | Path) -> Path:
    """The folder above the one holding the DAG file (``<root>/dags/aiinfra_dags.py`` → ``<root>``)."""
    return Path(dag_file).resolve().parent.parent


def bundle_root_for_spec(spec_file: str | Path) -> Path:
    """For a spec on its own (``aiinfra render``): the folder above the nearest ``specs/`` folder holding it,
    else the folder above the spec's own folder (``<root>/<folder>/x.yaml`` → ``<root>``)."""
    path = Path(spec_file).resolve()
    for parent in path.parents:
        if parent.name == "specs":
            return parent.parent
    return path.parent.parent
