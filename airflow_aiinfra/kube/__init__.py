"""Kubernetes objects as the product builds them: client models and the custom resources a distributed or
Spark stage becomes (plain dicts, no Airflow here)."""
