#!/usr/bin/env bash
# make demo: the example spec end to end with `airflow dags test`, on the embedded defaults, with its canary
# rollout on real model servers, HAProxy and Prometheus (installed by scripts/install_serving_tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/airflow_env.sh
mkdir -p "$AIRFLOW_HOME"
echo "== aiinfra validate specs/"
aiinfra validate specs/
echo "== airflow db migrate (SQLite in $AIRFLOW_HOME)"
airflow db migrate > "$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -30 "$AIRFLOW_HOME/migrate.log"; exit 1; }
airflow pools set aiinfra_gpu 8 "GPUs for aiinfra stages" > /dev/null
DATE="${DEMO_DATE:-2024-06-01}"
DATE2="${DEMO_DATE2:-2024-06-02}"
aiinfra pools specs/ > "$AIRFLOW_HOME/pools.log" 2>&1 || { cat "$AIRFLOW_HOME/pools.log"; exit 1; }
python examples/recsys/make_features.py  # the feature store's offline source
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! have haproxy || ! have prometheus; then
  if [ "$(id -u)" -eq 0 ]; then  # as root: install them from Debian's packages (apt-get, no recommends)
    bash scripts/install_serving_tools.sh
  else
    echo "demo: HAProxy and Prometheus are missing; install them from Debian's packages with:"
    echo "  sudo bash scripts/install_serving_tools.sh"; exit 1
  fi
fi
# Two runs of the pipeline against real model servers, HAProxy and Prometheus: the first deploys (or rolls
# out) a version, the second rolls the next version out under load and promotes it (scripts/demo_rollout.py).
status=0
python scripts/demo_rollout.py "$DATE" "$DATE2" || status=$?
cp "$AIRFLOW_HOME/demo-run-2.log" "$AIRFLOW_HOME/demo-run.log" 2>/dev/null || true
grep -E "accuracy|gate|exited with|rows written" "$AIRFLOW_HOME/demo-run.log" | sed -E 's/^[0-9T:.-]+Z //; s/ +\[airflow[^]]*\].*$//' | cut -c1-160 || true
RUN_ID=$(grep -o "DagRun Finished: dag_id=recsys__pipeline, [^,]*, run_id=[^,]*" "$AIRFLOW_HOME/demo-run.log" | sed 's/.*run_id=//' | tail -1)
if [ -n "$RUN_ID" ]; then
  echo "== task states of $RUN_ID"
  airflow tasks states-for-dag-run recsys__pipeline "$RUN_ID" -o plain 2>/dev/null | awk 'NR>1 {printf "  %-28s %s\n", $3, $4}' || true
  echo "== MLflow (embedded store $AIRFLOW_HOME/mlflow.db)"
  python scripts/demo_mlflow_summary.py "$AIRFLOW_HOME/mlflow.db" recsys || true
fi
if [ "$status" -eq 0 ] && grep -q "DagRun Finished.*state=success" "$AIRFLOW_HOME/demo-run.log"; then
  echo "demo: recsys__pipeline succeeded twice, the second rollout promoted under load (logs: $AIRFLOW_HOME/demo-run-*.log)"
else
  echo "demo: recsys__pipeline FAILED; see $AIRFLOW_HOME/demo-run-*.log"; exit 1
fi
