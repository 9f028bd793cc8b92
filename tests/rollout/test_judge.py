"""The judge: thresholds at their edges, the comparative Mann–Whitney judge (an identical canary passes, a
2× slower one fails, noise and tiny differences do not fail), and "not enough data" that is never a pass."""

from __future__ import annotations

import json
import random

import pytest

from airflow_aiinfra.rollout.judge import (
    Comparison,
    Outcome,
    Threshold,
    VersionWindow,
    default_comparisons,
    judge,
    spec_thresholds,
)

THRESHOLDS = spec_thresholds({"error_rate": 0.05, "latency_p99": 500, "latency_p95": None, "throughput_min": 10})


def window(version: str = "recsys/2", requests: float = 1000, **values: float | None) -> VersionWindow:
    base = {"error_rate": 0.01, "latency_p99": 120.0, "throughput": 50.0}
    return VersionWindow(version, requests, {**base, **values})


def latency_series(seed: int, n: int = 12, median: float = 20.0, spread: float = 3.0, scale: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [scale * max(1.0, rng.gauss(median, spread)) for _ in range(n)]


def with_series(version: str, requests: float, series: dict[str, list[float]]) -> VersionWindow:
    return VersionWindow(version, requests, {"error_rate": 0.0, "latency_p99": 30.0}, series)


@pytest.mark.parametrize(
    ("values", "outcome", "failed"),
    [
        pytest.param({"error_rate": 0.05}, Outcome.PASS, set(), id="error-rate-at-limit-passes"),
        pytest.param({"error_rate": 0.0500001}, Outcome.FAIL, {"error_rate"}, id="error-rate-just-over"),
        pytest.param({"latency_p99": 500.0}, Outcome.PASS, set(), id="p99-at-limit-passes"),
        pytest.param({"latency_p99": 500.01}, Outcome.FAIL, {"latency_p99"}, id="p99-just-over"),
        pytest.param({"throughput": 10.0}, Outcome.PASS, set(), id="throughput-at-minimum-passes"),
        pytest.param({"throughput": 9.99}, Outcome.FAIL, {"throughput"}, id="throughput-just-under"),
        pytest.param({"latency_p99": float("nan")}, Outcome.NO_DATA, set(), id="nan-is-no-data"),
        pytest.param({"error_rate": None}, Outcome.NO_DATA, set(), id="missing-is-no-data"),
        pytest.param({"error_rate": 0.2, "latency_p99": None}, Outcome.FAIL, {"error_rate"}, id="fail-beats-no-data"),
    ],
)
def test_thresholds_at_their_edges(values: dict, outcome: Outcome, failed: set[str]) -> None:
    verdict = judge(canary=window(**values), stable=window("recsys/1"), thresholds=THRESHOLDS, min_requests=100)
    assert verdict.outcome is outcome, verdict.message
    assert {c.metric for c in verdict.failed_checks} == failed


def test_every_check_carries_values_threshold_and_a_sentence() -> None:
    verdict = judge(canary=window(error_rate=0.08), stable=window("recsys/1", error_rate=0.01),
                    thresholds=THRESHOLDS, min_requests=100)
    check = verdict.failed_checks[0]
    assert (check.metric, check.kind, check.canary_value, check.stable_value, check.threshold, check.p_value) == (
        "error_rate", "threshold", 0.08, 0.01, 0.05, None)
    assert check.message == ("error_rate: canary recsys/2 8.00% breaks the limit of at most 5.00% (stable 1.00%)")
    assert verdict.message.startswith("canary recsys/2 failed: error_rate: canary recsys/2 8.00%")
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["outcome"] == "fail" and data["checks"][0]["outcome"] == "fail"
    assert verdict.as_metrics()["canary.error_rate"] == 0.08


@pytest.mark.parametrize("requests", [0, 99, 99.9])
def test_too_few_canary_requests_is_not_enough_data_never_a_pass(requests: float) -> None:
    verdict = judge(canary=window(requests=requests), stable=window("recsys/1"), thresholds=THRESHOLDS,
                    min_requests=100)
    assert verdict.outcome is Outcome.NO_DATA and not verdict.passed
    assert f"served {requests:.0f} requests in the window, fewer than min_requests=100" in verdict.message
    assert all(c.outcome is Outcome.PASS for c in verdict.checks)  # healthy numbers, still no pass


def test_min_requests_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_requests must be positive, got 0"):
        judge(canary=window(), stable=None, thresholds=THRESHOLDS, min_requests=0)


def test_an_identical_canary_passes_the_comparative_judge() -> None:
    series = {"latency_p99": latency_series(1), "error_rate": [0.0] * 12}
    verdict = judge(canary=with_series("recsys/2", 600, series), stable=with_series("recsys/1", 2400, series),
                    thresholds=(), comparisons=default_comparisons(), min_requests=100)
    compared = {c.metric: c for c in verdict.checks if c.outcome is not Outcome.NO_DATA}
    assert compared["latency_p99"].outcome is Outcome.PASS and compared["latency_p99"].p_value > 0.4
    assert compared["error_rate"].outcome is Outcome.PASS and compared["error_rate"].p_value == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_noise_does_not_fail_a_healthy_canary(seed: int) -> None:
    """Same distribution, different draws: the effect-size floor keeps chance significance from failing it."""
    canary = with_series("recsys/2", 600, {"latency_p99": latency_series(seed)})
    stable = with_series("recsys/1", 2400, {"latency_p99": latency_series(seed + 1000)})
    verdict = judge(canary=canary, stable=stable, thresholds=(), min_requests=100,
                    comparisons=(Comparison("latency_p99", 0.95, min_relative=0.2, min_absolute=5.0),))
    assert verdict.outcome is Outcome.PASS, verdict.message


def test_a_canary_twice_as_slow_fails_the_comparative_judge_under_the_absolute_threshold() -> None:
    canary = with_series("recsys/2", 600, {"latency_p99": latency_series(7, scale=2.0)})
    stable = with_series("recsys/1", 2400, {"latency_p99": latency_series(8)})
    verdict = judge(canary=canary, stable=stable, thresholds=spec_thresholds({"latency_p99": 500}),
                    comparisons=(Comparison("latency_p99", 0.95),), min_requests=100)
    assert verdict.outcome is Outcome.FAIL
    threshold, comparison = verdict.checks
    assert threshold.outcome is Outcome.PASS  # 30 ms window p99 is far under 500 ms
    assert comparison.outcome is Outcome.FAIL and comparison.p_value < 0.001
    assert comparison.canary_value > 1.8 * comparison.stable_value
    assert comparison.threshold == pytest.approx(1.2 * comparison.stable_value)
    assert "is worse than stable recsys/1" in comparison.message and "Mann-Whitney U, 12 vs 12" in comparison.message


def test_significant_but_tiny_differences_pass() -> None:
    """A consistent 5 % slowdown is significant with enough intervals but under the 20 % minimum effect."""
    stable = [20.0 + 0.01 * i for i in range(30)]
    canary = [1.05 * v for v in stable]
    verdict = judge(canary=with_series("c", 600, {"latency_p99": canary}), stable=with_series("s", 600, {"latency_p99": stable}),
                    thresholds=(), comparisons=(Comparison("latency_p99", 0.95, min_relative=0.2),), min_requests=100)
    check = verdict.checks[0]
    assert check.outcome is Outcome.PASS and check.p_value < 0.05
    assert "within the tolerated" in check.message


def test_lower_is_worse_metrics_compare_the_other_way() -> None:
    stable = latency_series(3, median=100)
    canary = latency_series(4, median=50)
    worse = Comparison("accuracy", 0.95, min_relative=0.1, higher_is_worse=False)
    verdict = judge(canary=with_series("c", 600, {"accuracy": canary}), stable=with_series("s", 600, {"accuracy": stable}),
                    thresholds=(), comparisons=(worse,), min_requests=100)
    assert verdict.outcome is Outcome.FAIL and verdict.checks[0].threshold == pytest.approx(0.9 * verdict.checks[0].stable_value)


@pytest.mark.parametrize(
    ("n", "outcome"),
    [
        pytest.param(3, Outcome.NO_DATA, id="3-vs-3-cannot-reach-95"),  # 1/C(6,3) = 0.05
        pytest.param(4, Outcome.FAIL, id="4-vs-4-can"),  # 1/C(8,4) = 0.014
    ],
)
def test_too_few_intervals_for_the_confidence_is_no_data(n: int, outcome: Outcome) -> None:
    canary = with_series("c", 600, {"latency_p99": [40.0 + i for i in range(n)]})
    stable = with_series("s", 600, {"latency_p99": [20.0 + i for i in range(n)]})
    verdict = judge(canary=canary, stable=stable, thresholds=(), comparisons=(Comparison("latency_p99"),),
                    min_requests=100)
    assert verdict.outcome is outcome, verdict.message
    if outcome is Outcome.NO_DATA:
        assert "3 canary and 3 stable intervals cannot show a difference at 95% confidence" in verdict.message


def test_nan_intervals_are_ignored() -> None:
    nan = float("nan")
    canary = with_series("c", 600, {"latency_p99": [nan, nan, *latency_series(5, n=8)]})
    stable = with_series("s", 600, {"latency_p99": [nan, *latency_series(6, n=8)]})
    check = judge(canary=canary, stable=stable, thresholds=(), comparisons=(Comparison("latency_p99"),),
                  min_requests=100).checks[0]
    assert check.outcome is Outcome.PASS and "8 vs 8" not in check.message  # passes, and medians are numbers
    assert check.canary_value == check.canary_value


def test_comparisons_are_skipped_when_stable_has_no_traffic() -> None:
    """At 100 % canary, stable serves nothing: the comparison says so and the thresholds decide."""
    canary = with_series("recsys/2", 600, {"latency_p99": latency_series(1)})
    stable = with_series("recsys/1", 0, {})
    verdict = judge(canary=canary, stable=stable, thresholds=spec_thresholds({"latency_p99": 500}),
                    comparisons=(Comparison("latency_p99"),), min_requests=100)
    assert verdict.outcome is Outcome.PASS
    assert verdict.checks[1].outcome is Outcome.SKIPPED and "stable recsys/1 served 0 requests" in verdict.checks[1].message
    assert judge(canary=canary, stable=None, thresholds=(), comparisons=(Comparison("latency_p99"),),
                 min_requests=100).checks[0].outcome is Outcome.SKIPPED


def test_custom_checks_are_thresholds_on_their_own_metric() -> None:
    canary = VersionWindow("recsys/2", 600, {"null_predictions": 0.3})
    verdict = judge(canary=canary, stable=None, thresholds=(Threshold("null_predictions", 0.1),), min_requests=100)
    assert verdict.outcome is Outcome.FAIL and "null_predictions: canary recsys/2 0.3 breaks" in verdict.message


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        pytest.param({"error_ratio": 0.1}, "unknown threshold 'error_ratio'", id="unknown-threshold"),
    ],
)
def test_spec_thresholds_reject_unknown_keys(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        spec_thresholds(bad)


def test_confidence_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"confidence for latency_p99 must be in \[0.5, 1\), got 1.0"):
        judge(canary=window(), stable=window("s"), thresholds=(), comparisons=(Comparison("latency_p99", 1.0),),
              min_requests=1)
