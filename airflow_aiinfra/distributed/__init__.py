"""Distributed stages: the topology (nodes × processes, parallelism) and how its launcher is invoked.

Shared by the cluster job builders (airflow_aiinfra.kube) and the local runners
(airflow_aiinfra.runners), so a stage runs the same command with the same environment in both.
"""
