"""The plan layer: plain dataclasses describing DAGs and tasks (``build.build_plans``). Knows neither YAML
nor Airflow. Empty on purpose: importing one planner must not import them all."""
