"""Every spec in [aiinfra] specs_folder (default: specs/ beside dags/) becomes DAGs.

The pod operator is imported here by its airflow.* path so the dag-processor pre-imports it once.
"""

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator  # noqa: F401

from airflow_aiinfra.wiring.loader import load_dags

load_dags(globals())
