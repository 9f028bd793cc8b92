"""Data Docs: where each gate run's HTML pages are written, how browsers reach them, one shared asset copy.

Pages are written under ``[aiinfra] data_docs_folder`` (default ``$AIRFLOW_HOME/data_docs``) as
``<dag_id>/<run_id>/<gate>/`` and served by the aiinfra plugin behind Airflow's auth, or by a static site at
``[aiinfra] data_docs_base_url``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from airflow_aiinfra import config


def safe_segment(value: str) -> str:
    """A run id or task id as one path/URL segment (``manual__2024-06-01T00:00:00+00:00``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value).strip(".") or "_"


def run_folder(dag_id: str, run_id: str, gate: str) -> Path:
    return config.data_docs_folder() / safe_segment(dag_id) / safe_segment(run_id) / safe_segment(gate)


def data_docs_url(relative: str) -> str:
    """Where a browser finds ``relative`` (under the docs folder): the configured static site,
    or the aiinfra plugin on Airflow's API server."""
    base = config.data_docs_base_url()
    if not base:
        from airflow.sdk import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/") + "/aiinfra/data-docs"
    return f"{base.rstrip('/')}/{relative.lstrip('/')}"


def share_static_assets(site_dir: Path, shared_root: Path) -> None:
    """Replace the site's 4 MB copy of GX's static assets by a relative link to one shared copy."""
    static = site_dir / "static"
    shared = shared_root / "static"
    if not static.is_dir() or static.is_symlink():
        return
    if not shared.exists():
        tmp = shared_root / f".static-{os.getpid()}"
        shutil.copytree(static, tmp, dirs_exist_ok=True)
        try:
            tmp.rename(shared)
        except OSError:  # another gate won the race
            shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(static)
    static.symlink_to(os.path.relpath(shared, site_dir))
