"""The spec layer: YAML with positions → pydantic models → located errors. Knows nothing of Airflow."""
