#!/usr/bin/env bash
# make test: lint, then the whole suite. Under CI (CI=true) services are required, not skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/airflow_env.sh
export AIRFLOW_HOME="$ROOT/.demo/test-airflow"
mkdir -p "$AIRFLOW_HOME"
ruff check airflow_aiinfra tests dags benchmarks scripts
args=(-n 2 --dist loadscope)
if [ "${CI:-}" = "true" ] || [ "${AIINFRA_REQUIRE_SERVICES:-}" = "1" ]; then
  args+=(--require-services)
  bash scripts/install_serving_tools.sh  # HAProxy and Prometheus from Debian's packages (no-op when present)
fi
exec pytest "${args[@]}" "$@"
