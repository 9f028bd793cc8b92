"""airflow-aiinfra: an Airflow 3 provider and DAG factory for ML platform teams.

This module is imported by Airflow's providers manager whenever configuration is
initialised, so it must stay free of heavy imports (no pydantic, no mlflow...).
"""

from __future__ import annotations

__version__ = "0.1.0"

_CONFIG_OPTIONS = {
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
        "tracking_uri nor conn_id. Missing connection means the embedded local store.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "mlflow_default",
        "default": "mlflow_default",
    },
    "data_docs_folder": {
        "description": "Folder where Great Expectations Data Docs are written per run; served by the "
        "aiinfra plugin under /aiinfra/data-docs/.",
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
    "gx_custom_expectations_module": {
        "description": "Python module imported before validation that registers custom GX expectations.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "my_company.gx_expectations",
        "default": "",
    },
}


def get_provider_info() -> dict:
    """Provider metadata for Airflow's providers manager (entry point `apache_airflow_provider`)."""
    return {
        "package-name": "airflow-aiinfra",
        "name": "AI Infra",
        "description": "DAG factory and operators for ML platforms: Kubernetes training stages, "
        "Great Expectations gates, MLflow tracking, Feast features and canary deploys.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "mlflow",
                "hook-class-name": "airflow_aiinfra.hooks.mlflow.MlflowHook",
                "hook-name": "MLflow",
            },
        ],
        "operators": [
            {"integration-name": "AI Infra", "python-modules": ["airflow_aiinfra.operators.stage"]},
            {"integration-name": "MLflow", "python-modules": ["airflow_aiinfra.operators.mlflow"]},
        ],
        "extra-links": [],
        "plugins": [{"name": "aiinfra", "plugin-class": "airflow_aiinfra.plugins.AiinfraPlugin"}],
        "config": {"aiinfra": {"description": "airflow-aiinfra DAG factory settings.", "options": _CONFIG_OPTIONS}},
    }
