"""Task kind → operator. ``stage`` has its own builder (pod kwargs); every other kind's plan payload is
exactly its operator's keyword arguments."""

from airflow_aiinfra.wiring.builders import stage  # noqa: F401
from airflow_aiinfra.wiring.registry import payload_operator

_OPS = "airflow_aiinfra.operators"
for _kind, _cls in {
    "dq_gate": "data_quality.DataQualityOperator",
    "mlflow_start_run": "mlflow.MlflowStartRunOperator",
    "mlflow_register_model": "mlflow.MlflowRegisterModelOperator",
    "mlflow_end_run": "mlflow.MlflowEndRunOperator",
    "feast_apply": "feast.FeastApplyOperator",
    "feast_materialize": "feast.FeastMaterializeOperator",
    "feast_consistency": "feast.FeastConsistencyOperator",
    "feast_training_set": "feast.FeastTrainingSetOperator",
}.items():
    payload_operator(_kind, f"{_OPS}.{_cls}")
