"""Hooks: each owns one client and maps its errors into airflow_aiinfra.errors."""
