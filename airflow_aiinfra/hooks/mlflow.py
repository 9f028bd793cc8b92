"""MLflow hook (connection type ``mlflow``) and the link from any task to the pipeline's MLflow run.

CONTRACT used by other integrations (data quality, Feast): ``log_to_pipeline_run`` attaches to the
MLflow run of the current DAG run when one exists (the ``mlflow.start_run`` task created it) and
returns False when the DAG has no experiment. Implemented by the MLflow integration (issue 4).
"""

from __future__ import annotations

from typing import Any


def log_to_pipeline_run(
    context: Any,
    *,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    dicts: dict[str, dict[str, Any]] | None = None,
    artifacts: dict[str, str] | None = None,
) -> bool:
    """Log to this DAG run's MLflow run if it exists; ``dicts`` maps artifact file name → JSON-able dict,
    ``artifacts`` maps artifact sub-directory → local path. Returns whether a run was found."""
    return False
