"""Print what the demo left in the embedded MLflow store: the run of the pipeline and the registered version."""

import sys

from mlflow import MlflowClient

db, model = sys.argv[1], sys.argv[2]
client = MlflowClient(f"sqlite:///{db}")
for mv in client.search_model_versions(f"name='{model}'", order_by=["version_number DESC"], max_results=3):
    run = client.get_run(mv.run_id)
    aliases = ",".join(client.get_model_version(model, mv.version).aliases) or "-"
    print(f"  model {model} v{mv.version} aliases={aliases} run={mv.run_id} status={run.info.status}")
    metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(run.data.metrics.items()))
    print(f"    metrics: {metrics}")
    print(f"    tags: airflow.dag_id={run.data.tags.get('airflow.dag_id')} airflow.run_id={run.data.tags.get('airflow.run_id')}")
