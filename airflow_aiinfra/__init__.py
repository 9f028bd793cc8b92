"""airflow-aiinfra: an Airflow 3 provider and DAG factory for ML platform teams.

This module is imported by Airflow's providers manager whenever configuration is
initialised, so it must stay free of heavy imports (no pydantic, no mlflow...).
"""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata for Airflow's providers manager (entry point ``apache_airflow_provider``).

    Every module and class named here exists and imports (tests/test_provider.py); nothing is advertised
    that the package does not do."""
    from airflow_aiinfra.config import OPTIONS

    return {
        "package-name": "airflow-aiinfra",
        "name": "AI Infra",
        "description": "DAG factory and operators for ML platforms: Kubernetes training stages, "
        "distributed training jobs and Spark stages, Great Expectations gates, MLflow tracking and registration, Feast features, canary rollouts (HAProxy, KServe, Istio).",
        "versions": [__version__],
        "integrations": [
            {"integration-name": "AI Infra", "external-doc-url": "https://airflow-aiinfra.dev/", "tags": ["software"]},
        ],
        "connection-types": [
            {"connection-type": "mlflow", "hook-class-name": "airflow_aiinfra.hooks.mlflow.MlflowHook"},
            {"connection-type": "haproxy", "hook-class-name": "airflow_aiinfra.hooks.haproxy.HaproxyHook"},
            {"connection-type": "prometheus", "hook-class-name": "airflow_aiinfra.hooks.prometheus.PrometheusHook"},
        ],
        "operators": [
            {"integration-name": "AI Infra", "python-modules": [
                "airflow_aiinfra.operators.stage",
                "airflow_aiinfra.operators.data_quality",
                "airflow_aiinfra.operators.mlflow",
                "airflow_aiinfra.operators.feast",
                "airflow_aiinfra.operators.spec_error",
                "airflow_aiinfra.operators.training_job",
                "airflow_aiinfra.operators.distributed",
                "airflow_aiinfra.operators.spark",
                "airflow_aiinfra.operators.monitoring",
                "airflow_aiinfra.operators.drift",
                "airflow_aiinfra.operators.inference_table",
                "airflow_aiinfra.operators.rollout",
            ]},
        ],
        "hooks": [
            {"integration-name": "AI Infra", "python-modules": [
                "airflow_aiinfra.hooks.mlflow",
                "airflow_aiinfra.hooks.feast",
                "airflow_aiinfra.hooks.data_source",
                "airflow_aiinfra.hooks.kube_jobs",
                "airflow_aiinfra.hooks.haproxy",
                "airflow_aiinfra.hooks.prometheus",
            ]},
        ],
        "sensors": [
            {"integration-name": "AI Infra", "python-modules": [
                "airflow_aiinfra.sensors.dag_run",
                "airflow_aiinfra.sensors.rollout",
            ]},
        ],
        "triggers": [
            {"integration-name": "AI Infra", "python-modules": [
                "airflow_aiinfra.triggers.training_job",
                "airflow_aiinfra.triggers.rollout",
            ]},
        ],
        "extra-links": [
            "airflow_aiinfra.operators.pipeline_run.MlflowRunLink",
            "airflow_aiinfra.operators.data_quality.DataDocsLink",
            "airflow_aiinfra.operators.monitoring.MonitoringReportLink",
            "airflow_aiinfra.operators.rollout.RolloutChartLink",
            "airflow_aiinfra.operators.rollout.PrometheusGraphLink",
        ],
        "plugins": [{"name": "aiinfra", "plugin-class": "airflow_aiinfra.plugins.AiinfraPlugin"}],
        "config": {"aiinfra": {"description": "airflow-aiinfra DAG factory settings.", "options": OPTIONS}},
    }
