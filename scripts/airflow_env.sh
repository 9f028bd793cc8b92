# Sourced by the Makefile targets: an Airflow home inside the repo on the embedded defaults
# (SQLite metadata DB, local runner). Override any variable before sourcing.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.demo/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__AIINFRA__RUNNER="${AIRFLOW__AIINFRA__RUNNER:-local}"
export AIRFLOW__AIINFRA__SPECS_FOLDER="${AIRFLOW__AIINFRA__SPECS_FOLDER:-$ROOT/specs}"
export GX_ANALYTICS_ENABLED="${GX_ANALYTICS_ENABLED:-False}"
export PATH="$ROOT/.venv/bin:$PATH"
