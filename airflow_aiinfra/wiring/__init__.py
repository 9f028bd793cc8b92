"""The Airflow wiring layer: the only layer that builds DAGs and operators."""
