"""Every ``[aiinfra]`` option and the Airflow home, read in one place, lazily.

The defaults are written once, in :data:`OPTIONS` (which ``get_provider_info()`` also publishes to
Airflow's configuration). Values come from Airflow's configuration when Airflow is already loaded (DAG
parsing, tasks, the API server); otherwise from the ``AIRFLOW__AIINFRA__<KEY>`` environment variables, so
``aiinfra validate`` stays fast and never imports Airflow. Nothing is read at import time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_aiinfra.spec.options import SpecOptions

RUNNERS = ("kubernetes", "local")

OPTIONS: dict[str, dict[str, Any]] = {
    "specs_folder": {
        "description": "Folder of ML system specs (*.yaml) loaded by dags/aiinfra_dags.py. "
        "Empty means `specs/` beside the DAG file that calls load_dags().",
        "version_added": "0.1.0",
        "type": "string",
        "example": "/opt/airflow/dags/repo/specs",
        "default": "",
    },
    "runner": {
        "description": "Where training stages run: `kubernetes` (a pod per stage) or `local` "
        "(a subprocess on the worker, for laptops and `airflow dags test`).",
        "version_added": "0.1.0",
        "type": "string",
        "example": "local",
        "default": "kubernetes",
    },
    "max_local_procs": {
        "description": "Most processes a distributed stage starts under the local runner (all simulated "
        "nodes together). A larger topology is shrunk to fit (fewer nodes or processes, data-parallel "
        "degree adjusted), and the task log says so.",
        "version_added": "0.1.0",
        "type": "integer",
        "example": "8",
        "default": "4",
    },
    "parse_shards": {
        "description": "Split the specs across this many parse units (dags/aiinfra_dags_<i>.py files, "
        "see `aiinfra shards`), so one slow or broken unit never hides the others.",
        "version_added": "0.1.0",
        "type": "integer",
        "example": "4",
        "default": "1",
    },
    "default_run_as_user": {
        "description": "UID that pods run as under the restricted security context when the spec "
        "does not say, so images built to run as root still start as non-root.",
        "version_added": "0.1.0",
        "type": "integer",
        "example": "1000",
        "default": "1000",
    },
    "mlflow_conn_id": {
        "description": "Airflow connection used for MLflow when a spec names neither "
        "tracking_uri nor conn_id. Missing connection means the embedded local store "
        "($AIRFLOW_HOME/mlflow.db).",
        "version_added": "0.1.0",
        "type": "string",
        "example": "mlflow_default",
        "default": "mlflow_default",
    },
    "data_docs_folder": {
        "description": "Folder where Great Expectations Data Docs are written per run; served by the "
        "aiinfra plugin under /aiinfra/data-docs/. Empty means $AIRFLOW_HOME/data_docs.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "/opt/airflow/data_docs",
        "default": "",
    },
    "data_docs_base_url": {
        "description": "Base URL where browsers reach data_docs_folder when it is published elsewhere "
        "(a static site or bucket). Empty means the aiinfra plugin on the API server "
        "([api] base_url + /aiinfra/data-docs).",
        "version_added": "0.1.0",
        "type": "string",
        "example": "https://data-docs.example.com",
        "default": "",
    },
    "feast_home": {
        "description": "Folder for the Feast registry and SQLite online store of specs that define features "
        "inline (one sub-folder per Feast project). Empty means $AIRFLOW_HOME/feast.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "/opt/airflow/feast",
        "default": "",
    },
    "max_spec_bytes": {
        "description": "Largest spec file read, in bytes; a larger one is a spec error (its DAGs become a "
        "placeholder), so no file can stall a parse unit or fill the DAG docs.",
        "version_added": "0.1.0",
        "type": "integer",
        "example": "4194304",
        "default": "2097152",
    },
    "data_roots": {
        "description": "Comma-separated folders or URL prefixes that gates, feature sources and outputs must "
        "stay under (relative folders are under the bundle root). Empty means any data location: never "
        "/proc, /sys, /dev, the bundle's dags/ and specs/, Python files or the installed package.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "/data/ml,s3://ml-data/",
        "default": "",
    },
    "data_samples": {
        "description": "Put samples of data values (a gate's unexpected values, mismatching feature "
        "values) in task logs and XCom, through Airflow's secrets masker. False keeps only counts.",
        "version_added": "0.1.0",
        "type": "boolean",
        "example": "False",
        "default": "True",
    },
    "gx_custom_expectations_module": {
        "description": "Python module imported before validation that registers custom GX expectations.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "my_company.gx_expectations",
        "default": "",
    },
}


def _airflow_loaded() -> bool:
    return "airflow.configuration" in sys.modules or "airflow.sdk" in sys.modules


def get(key: str) -> str:
    """The option's value, or its default from :data:`OPTIONS` when unset or empty."""
    default = OPTIONS[key]["default"]
    if _airflow_loaded():
        from airflow.sdk import conf

        value = conf.get("aiinfra", key, fallback=default)
    else:
        value = os.environ.get(f"AIRFLOW__AIINFRA__{key.upper()}", default)
    return (value or default).strip()


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, else ``~/airflow``: Airflow's own rule, so every embedded store lands together."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()


def runner() -> str:
    value = get("runner").lower()
    if value not in RUNNERS:
        raise ValueError(f"[aiinfra] runner = {value!r}; use one of {', '.join(RUNNERS)}")
    return value


def _int(key: str) -> int:
    value = get(key)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"[aiinfra] {key} = {value!r} is not a whole number") from None


def default_uid() -> int:
    return _int("default_run_as_user")


def max_local_procs() -> int:
    value = _int("max_local_procs")
    if value < 1:
        raise ValueError(f"[aiinfra] max_local_procs = {value}: use a whole number >= 1")
    return value


def parse_shards() -> int:
    return max(1, _int("parse_shards"))


def specs_folder() -> Path | None:
    """The configured specs folder, or None (then: ``specs/`` beside the DAG file)."""
    value = get("specs_folder")
    return Path(value) if value else None


def mlflow_conn_id() -> str:
    return get("mlflow_conn_id")


def data_docs_folder() -> Path:
    value = get("data_docs_folder")
    return Path(value) if value else airflow_home() / "data_docs"


def data_docs_base_url() -> str:
    return get("data_docs_base_url")


def feast_home() -> Path:
    value = get("feast_home")
    return Path(value) if value else airflow_home() / "feast"


def gx_custom_expectations_module() -> str:
    return get("gx_custom_expectations_module")


def data_roots() -> tuple[str, ...]:
    return tuple(r.strip() for r in get("data_roots").split(",") if r.strip())


def data_samples() -> bool:
    value = get("data_samples").lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError(f"[aiinfra] data_samples = {value!r}; use True or False")
    return value in ("true", "1", "yes", "on")


def spec_options() -> SpecOptions:
    """What spec validation needs from the deployment's configuration."""
    from airflow_aiinfra.spec.options import SpecOptions

    return SpecOptions(custom_expectations=bool(gx_custom_expectations_module()), max_bytes=_int("max_spec_bytes"),
                       data_roots=data_roots())
