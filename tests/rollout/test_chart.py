"""The rollout chart: a PNG from the step verdicts, drawn without a display."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_aiinfra.rollout.chart import RolloutStep, render_chart
from airflow_aiinfra.rollout.judge import Comparison, VersionWindow, judge, spec_thresholds


def test_steps_come_from_verdicts_and_draw_a_png(tmp_path: Path) -> None:
    steps = []
    for weight, errors, p99 in ((5, 0.0, 20.0), (25, 0.01, 24.0), (50, 0.2, 90.0)):
        canary = VersionWindow("recsys/2", 500, {"error_rate": errors, "latency_p99": p99},
                               {"latency_p99": [p99] * 5})
        stable = VersionWindow("recsys/1", 2000, {"error_rate": 0.0, "latency_p99": 21.0}, {"latency_p99": [21.0] * 5})
        verdict = judge(canary=canary, stable=stable, thresholds=spec_thresholds({"error_rate": 0.05, "latency_p99": 50}),
                        comparisons=(Comparison("latency_p99"),), min_requests=100)
        steps.append(RolloutStep.from_verdict(weight, verdict))
    assert steps[-1] == RolloutStep(50, 0.2, 0.0, 90.0, 21.0, "fail")
    assert [s.outcome for s in steps] == ["pass", "pass", "fail"]
    png = render_chart(steps, tmp_path / "charts" / "rollout.png", title="recsys/2 vs recsys/1",
                       error_rate_threshold=0.05, latency_p99_threshold_ms=50)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_chart_needs_steps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one step"):
        render_chart([], tmp_path / "x.png", title="t")
