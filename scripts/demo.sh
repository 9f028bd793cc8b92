#!/usr/bin/env bash
# make demo: the example spec end to end with `airflow dags test`, on the embedded defaults.
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
python examples/recsys/make_features.py  # the feature store's offline source
echo "== airflow dags test recsys__pipeline $DATE"
airflow dags test recsys__pipeline "$DATE" > "$AIRFLOW_HOME/demo-run.log" 2>&1 || true
grep -E "new_state=|accuracy|exited with|DagRun Finished" "$AIRFLOW_HOME/demo-run.log" | sed -E 's/^[0-9T:.-]+Z //' | cut -c1-220
if grep -q "DagRun Finished.*state=success" "$AIRFLOW_HOME/demo-run.log"; then
  echo "demo: recsys__pipeline succeeded (full log: $AIRFLOW_HOME/demo-run.log)"
else
  echo "demo: recsys__pipeline FAILED; see $AIRFLOW_HOME/demo-run.log"; exit 1
fi
