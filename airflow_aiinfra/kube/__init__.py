"""Kubernetes objects as the product builds them: client models and custom resources (no Airflow here)."""
