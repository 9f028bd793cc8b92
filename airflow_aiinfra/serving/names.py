"""The model server's Prometheus metric names, labels and buckets: the contract between the server
(:mod:`.metrics`) and the PromQL templates the rollout judges with (:mod:`airflow_aiinfra.rollout.promql`).

Kept in a module of constants so both sides import it without importing prometheus_client or FastAPI.
"""

from __future__ import annotations

REQUESTS = "aiinfra_model_requests_total"
DURATION = "aiinfra_model_request_duration_seconds"
MODEL_INFO = "aiinfra_model_info"
LOADS = "aiinfra_model_loads_total"

SLOT_LABEL = "slot"
VERSION_LABEL = "model_version"
STATUS_LABEL = "status"

VERSION_HEADER = "X-Model-Version"
SCORING_PATH = "/invocations"

# Fine enough to read a p99 anywhere between 5 ms and 2.5 s (histogram_quantile interpolates within a
# bucket, so the 100-500 ms range where thresholds usually sit gets a bucket every 50-100 ms).
# The instrumentator's default 0.1/0.5/1 s buckets cannot tell 20 ms from 90 ms.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25,
    0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.5,
)
