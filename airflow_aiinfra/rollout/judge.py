"""Judge one analysis window of a canary: absolute thresholds, and optionally canary vs stable. Pure, no I/O.

Inputs are numbers already read from Prometheus (:mod:`.promql`): for each version, its request count in
the window, one value per metric for the whole window (the absolute gates) and, for the comparative
judge, the per-interval series of each metric.

* **Thresholds** (the spec's ``monitoring.thresholds``): ``error_rate`` is a fraction, ``latency_p50/p95/p99``
  are milliseconds, all upper bounds (a value equal to the limit passes); ``throughput_min`` is a lower
  bound in requests/s. Custom checks are thresholds on their own metric names.
* **Comparison** (as Kayenta does): a one-sided Mann–Whitney U test of the canary's per-interval series
  against stable's. The canary is *worse* only when the test is significant at the stated confidence
  **and** its median is worse by more than a minimum effect (relative to stable's median, with an absolute
  floor), so noise and trivially small differences do not fail a healthy canary. When the series are too
  short to ever reach the confidence (the smallest possible p, 1/C(n+m, n), is not below alpha) the
  comparison has no data: 4 intervals per version are the least for 95 %.
* **Not enough data**: a canary that served fewer than ``min_requests`` requests in the window gets
  ``no_data``, never a pass; so does a metric with no value (NaN: no requests in it).

The overall outcome is ``no_data`` if the canary had too few requests, else ``fail`` if any check failed,
else ``no_data`` if any check had no data, else ``pass``. Comparisons are ``skipped`` (and say so) when
stable itself served fewer than ``min_requests`` (e.g. the canary at 100 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

UNITS = {"error_rate": "", "latency_p50": " ms", "latency_p95": " ms", "latency_p99": " ms", "throughput": " req/s"}
_SPEC_THRESHOLDS: dict[str, tuple[str, Literal["max", "min"]]] = {
    "error_rate": ("error_rate", "max"),
    "latency_p50": ("latency_p50", "max"),
    "latency_p95": ("latency_p95", "max"),
    "latency_p99": ("latency_p99", "max"),
    "throughput_min": ("throughput", "min"),
}


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NO_DATA = "no_data"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class VersionWindow:
    """What one version did in the window. ``values``: one number per metric over the whole window (None or
    NaN when unknown); ``series``: per-interval values for the comparative judge (NaN intervals are ignored)."""

    version: str
    requests: float
    values: Mapping[str, float | None] = field(default_factory=dict)
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Threshold:
    metric: str
    limit: float
    bound: Literal["max", "min"] = "max"


@dataclass(frozen=True)
class Comparison:
    """Fail the canary on ``metric`` when it is worse than stable with ``confidence`` and by more than
    ``max(min_relative * |stable median|, min_absolute)``."""

    metric: str
    confidence: float = 0.95
    min_relative: float = 0.2
    min_absolute: float = 0.0
    higher_is_worse: bool = True


@dataclass(frozen=True)
class Check:
    metric: str
    kind: Literal["threshold", "comparison"]
    outcome: Outcome
    canary_value: float | None
    stable_value: float | None
    threshold: float | None
    p_value: float | None
    message: str


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    canary_version: str
    stable_version: str | None
    canary_requests: float
    min_requests: int
    checks: tuple[Check, ...]
    message: str

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.outcome is Outcome.FAIL)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (XCom, MLflow dict artifact)."""
        return asdict(self) | {"outcome": self.outcome.value,
                                "checks": [asdict(c) | {"outcome": c.outcome.value} for c in self.checks]}

    def as_metrics(self) -> dict[str, float]:
        """Flat numbers for step-indexed MLflow metrics: canary/stable window values, interval medians
        (``.median``, from comparisons) and p-values."""
        out: dict[str, float] = {"canary.requests": float(self.canary_requests)}
        for c in self.checks:
            suffix = ".median" if c.kind == "comparison" else ""
            if c.canary_value is not None:
                out[f"canary.{c.metric}{suffix}"] = c.canary_value
            if c.stable_value is not None:
                out[f"stable.{c.metric}{suffix}"] = c.stable_value
            if c.p_value is not None:
                out[f"p_value.{c.metric}"] = c.p_value
        return out


def spec_thresholds(thresholds: Mapping[str, float | None]) -> tuple[Threshold, ...]:
    """Thresholds from the spec's ``monitoring.thresholds`` mapping (unset ones skipped)."""
    out = []
    for key, value in thresholds.items():
        if value is None:
            continue
        if key not in _SPEC_THRESHOLDS:
            raise ValueError(f"unknown threshold {key!r}; use one of {', '.join(_SPEC_THRESHOLDS)}")
        metric, bound = _SPEC_THRESHOLDS[key]
        out.append(Threshold(metric, float(value), bound))
    return tuple(out)


def default_comparisons(confidence: float = 0.95) -> tuple[Comparison, ...]:
    """Error rate (worse by > 1 point) and latency p50/p95/p99 (worse by > 20 % and > 5 ms)."""
    return (
        Comparison("error_rate", confidence, min_relative=0.0, min_absolute=0.01),
        *(Comparison(m, confidence, min_relative=0.2, min_absolute=5.0) for m in ("latency_p50", "latency_p95", "latency_p99")),
    )


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "no value"
    if metric == "error_rate":
        return f"{value:.2%}"
    return f"{value:.4g}{UNITS.get(metric, '')}"


def _threshold(t: Threshold, canary: VersionWindow, stable: VersionWindow | None) -> Check:
    value = _number(canary.values.get(t.metric))
    stable_value = _number(stable.values.get(t.metric)) if stable is not None else None
    word = "at most" if t.bound == "max" else "at least"
    if value is None:
        return Check(t.metric, "threshold", Outcome.NO_DATA, None, stable_value, t.limit, None,
                     f"{t.metric}: canary {canary.version} has no value in this window (limit {word} "
                     f"{_fmt(t.metric, t.limit)})")
    ok = value <= t.limit if t.bound == "max" else value >= t.limit
    verb = "within" if ok else "breaks"
    return Check(t.metric, "threshold", Outcome.PASS if ok else Outcome.FAIL, value, stable_value, t.limit, None,
                 f"{t.metric}: canary {canary.version} {_fmt(t.metric, value)} {verb} the limit of {word} "
                 f"{_fmt(t.metric, t.limit)} (stable {_fmt(t.metric, stable_value)})")


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _compare(c: Comparison, canary: VersionWindow, stable: VersionWindow, min_requests: int) -> Check:
    from scipy.stats import mannwhitneyu

    if stable.requests < min_requests:
        return Check(c.metric, "comparison", Outcome.SKIPPED, None, None, None, None,
                     f"{c.metric}: not compared, stable {stable.version} served {stable.requests:.0f} requests "
                     f"(< {min_requests}) in this window")
    a = [float(v) for v in canary.series.get(c.metric, ()) if not math.isnan(v)]
    b = [float(v) for v in stable.series.get(c.metric, ()) if not math.isnan(v)]
    alpha = round(1.0 - c.confidence, 12)  # 1 - 0.95 is 0.05000000000000004 in floating point
    if not a or not b or 1.0 / math.comb(len(a) + len(b), len(a)) >= alpha:  # p < alpha is then impossible
        return Check(c.metric, "comparison", Outcome.NO_DATA, _median(a) if a else None,
                     _median(b) if b else None, None, None,
                     f"{c.metric}: {len(a)} canary and {len(b)} stable intervals cannot show a difference at "
                     f"{c.confidence:.0%} confidence; use more, shorter intervals")
    ma, mb = _median(a), _median(b)
    allowed = max(c.min_relative * abs(mb), c.min_absolute)
    limit = mb + allowed if c.higher_is_worse else mb - allowed
    effect = ma - mb if c.higher_is_worse else mb - ma
    p = float(mannwhitneyu(a, b, alternative="greater" if c.higher_is_worse else "less").pvalue)
    p = 1.0 if math.isnan(p) else p
    worse = p < alpha and effect > allowed
    direction = "higher" if c.higher_is_worse else "lower"
    if worse:
        text = (f"{c.metric}: canary {canary.version} is worse than stable {stable.version}: median "
                f"{_fmt(c.metric, ma)} vs {_fmt(c.metric, mb)}, beyond the tolerated {_fmt(c.metric, limit)}, "
                f"p={p:.3g} < {alpha:.3g} (Mann-Whitney U, {len(a)} vs {len(b)} intervals)")
    else:
        reason = f"p={p:.3g} ≥ {alpha:.3g}" if p >= alpha else f"difference within the tolerated {_fmt(c.metric, limit)}"
        text = (f"{c.metric}: canary {canary.version} not worse than stable {stable.version} (median "
                f"{_fmt(c.metric, ma)} vs {_fmt(c.metric, mb)}, {direction} is worse; {reason})")
    return Check(c.metric, "comparison", Outcome.FAIL if worse else Outcome.PASS, ma, mb, limit, p, text)


def judge(
    *,
    canary: VersionWindow,
    stable: VersionWindow | None,
    thresholds: Sequence[Threshold],
    comparisons: Sequence[Comparison] = (),
    min_requests: int,
) -> Verdict:
    """The verdict on one analysis window (see the module docstring for the rules)."""
    if min_requests <= 0:
        raise ValueError(f"min_requests must be positive, got {min_requests}")
    for c in comparisons:
        if not 0.5 <= c.confidence < 1:
            raise ValueError(f"comparison confidence for {c.metric} must be in [0.5, 1), got {c.confidence}")
    checks = [_threshold(t, canary, stable) for t in thresholds]
    for c in comparisons:
        if stable is None:
            checks.append(Check(c.metric, "comparison", Outcome.SKIPPED, None, None, None, None,
                                f"{c.metric}: not compared, no stable version in this window"))
        else:
            checks.append(_compare(c, canary, stable, min_requests))
    outcomes = {c.outcome for c in checks}
    failed = [c for c in checks if c.outcome is Outcome.FAIL]
    if canary.requests < min_requests:
        outcome = Outcome.NO_DATA
        message = (f"not enough data: canary {canary.version} served {canary.requests:.0f} requests in the window, "
                   f"fewer than min_requests={min_requests}")
    elif failed:
        outcome = Outcome.FAIL
        message = f"canary {canary.version} failed: " + "; ".join(c.message for c in failed)
    elif Outcome.NO_DATA in outcomes:
        outcome = Outcome.NO_DATA
        message = "not enough data: " + "; ".join(c.message for c in checks if c.outcome is Outcome.NO_DATA)
    else:
        outcome = Outcome.PASS
        message = f"canary {canary.version} passed {sum(c.outcome is Outcome.PASS for c in checks)} checks " \
                  f"on {canary.requests:.0f} requests"
    return Verdict(outcome, canary.version, stable.version if stable else None, canary.requests, min_requests,
                   tuple(checks), message)
