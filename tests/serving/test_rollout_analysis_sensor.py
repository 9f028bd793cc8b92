"""The analysis sensor's judgment on real metrics (``execute_complete`` after its window, as the triggerer
resumes it): a slow canary (p99 over the threshold) fails the first analysis; a canary about twice as slow
as stable but under the thresholds is caught by the comparative judge while an identical one passes it; too few canary
requests is "not enough data" (a retryable error, never a pass); Prometheus or the router unreachable is a
transient error, never a pass."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_aiinfra.errors import PrometheusTransientError, RouterTransientError
from airflow_aiinfra.hooks.prometheus import PrometheusHook
from airflow_aiinfra.sensors.rollout import NotEnoughData, RolloutAnalysisSensor
from airflow_aiinfra.serving.loadgen import LoadGenerator
from tests.serving.conftest import BACKEND, ServingStack
from tests.support.models import sample_bodies
from tests.support.serving import free_port

pytestmark = pytest.mark.integration

WINDOW_S = 6.0


class _TI:
    """The two XCom calls the sensor makes (an Airflow context stand-in: no DAG, so no MLflow run)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state, self.pushed = state, {}

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.state

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class _Sensor(RolloutAnalysisSensor):
    prometheus_url = ""

    def prometheus(self) -> PrometheusHook:
        return PrometheusHook(base_url=self.prometheus_url)


def sensor(stack: ServingStack, *, thresholds: dict[str, float], compare: bool = False,
           runtime_api: str | None = None, prometheus_url: str | None = None, min_requests: int = 50) -> _Sensor:
    s = _Sensor(task_id="analyze_50", registered_model="recsys", router_type="haproxy", target="haproxy:test",
                router={"backend": BACKEND, "runtime_api": runtime_api or stack.runtime_api, "admin_token": ""},
                weight=50, step=1, window_seconds=WINDOW_S, scrape_interval_seconds=1.0, thresholds=thresholds,
                comparison_confidence=0.95 if compare else None,
                comparison_metrics=["error_rate", "latency_p50", "latency_p95", "latency_p99"] if compare else [],
                min_requests=min_requests)
    s.prometheus_url = prometheus_url or stack.prometheus_url
    return s


def state(stack: ServingStack, variant: str) -> dict[str, Any]:
    return {"new_label": stack.registry.label(variant), "champion_label": stack.registry.label("good"),
            "new_version": stack.registry.versions[variant], "champion": stack.registry.versions["good"],
            "initial": False}


def window_under_load(stack: ServingStack, variant: str) -> float:
    """Canary ``variant`` at 50 % under load for one window; returns the window's end."""
    stack.reset(canary_variant=variant, stable_weight=50, canary_weight=50)
    with LoadGenerator(stack.scoring_url, rate=100, bodies=sample_bodies()):
        end = time.time() + WINDOW_S
        time.sleep(WINDOW_S + 1.5)
    return end


def complete(s: _Sensor, st: dict[str, Any], end: float) -> tuple[dict[str, Any], _TI]:
    ti = _TI(st)
    return s.execute_complete({"ti": ti, "params": {}}, {"status": "elapsed", "window_end": end, "failures": 0}), ti


def test_slow_canary_fails_the_first_analysis_on_p99(serving_stack: ServingStack) -> None:
    end = window_under_load(serving_stack, "slow")
    s = sensor(serving_stack, thresholds={"error_rate": 0.05, "latency_p99": 40.0})
    ti = _TI(state(serving_stack, "slow"))
    with pytest.raises(AirflowFailException, match=r"step 1 \(50 %\): canary recsys/4 failed: latency_p99"):
        s.execute_complete({"ti": ti, "params": {}}, {"status": "elapsed", "window_end": end, "failures": 0})
    verdict = ti.pushed["rollout_verdict"]["verdict"]
    assert verdict["outcome"] == "fail"
    p99 = next(c for c in verdict["checks"] if c["metric"] == "latency_p99")
    assert p99["canary_value"] > 40.0 and p99["threshold"] == 40.0


def test_comparative_judge_catches_a_slower_canary_under_the_thresholds_and_passes_an_identical_one(
        serving_stack: ServingStack) -> None:
    thresholds = {"error_rate": 0.05, "latency_p99": 40.0}  # the same gates that fail the slow canary
    end = window_under_load(serving_stack, "slower")  # about twice stable's latency
    ti = _TI(state(serving_stack, "slower"))
    with pytest.raises(AirflowFailException, match="worse than stable") as info:
        sensor(serving_stack, thresholds=thresholds, compare=True).execute_complete(
            {"ti": ti, "params": {}}, {"status": "elapsed", "window_end": end, "failures": 0})
    assert "breaks the limit" not in str(info.value)  # under every absolute threshold
    checks = ti.pushed["rollout_verdict"]["verdict"]["checks"]
    p50 = next(c for c in checks if c["metric"] == "latency_p50" and c["kind"] == "comparison")
    assert p50["outcome"] == "fail" and p50["p_value"] < 0.05 and p50["canary_value"] > 1.5 * p50["stable_value"]
    lax = thresholds

    end = window_under_load(serving_stack, "good")  # the same version in both slots: identical
    record, ti = complete(sensor(serving_stack, thresholds=lax, compare=True), state(serving_stack, "good"), end)
    comparisons = [c for c in record["verdict"]["checks"] if c["kind"] == "comparison"]
    assert record["verdict"]["outcome"] == "pass" and comparisons
    assert all(c["p_value"] is not None for c in comparisons if c["outcome"] == "pass")


def test_not_enough_data_is_retried_never_a_pass(serving_stack: ServingStack) -> None:
    st = state(serving_stack, "good2") | {"new_label": "recsys/999"}  # a version that served nothing
    with pytest.raises(NotEnoughData, match="not enough data: canary recsys/999 served 0 requests"):
        complete(sensor(serving_stack, thresholds={"error_rate": 0.05}), st, time.time() - 1)


def test_unreachable_prometheus_or_router_is_transient_never_a_pass(serving_stack: ServingStack) -> None:
    st = state(serving_stack, "good2")
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PrometheusTransientError):
        complete(sensor(serving_stack, thresholds={"error_rate": 0.05}, prometheus_url=dead), st, time.time() - 1)
    with pytest.raises(RouterTransientError):
        complete(sensor(serving_stack, thresholds={"error_rate": 0.05}, runtime_api=f"127.0.0.1:{free_port()}"),
                 st, time.time() - 1)
