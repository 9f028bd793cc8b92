"""The PNG of a finished rollout: canary weight per step, and error rate and p99 of both versions per step
against the thresholds. matplotlib (Agg, no display) is imported only when a chart is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from airflow_aiinfra.rollout.judge import Verdict


@dataclass(frozen=True)
class RolloutStep:
    weight: int  # canary percent during the step
    canary_error_rate: float | None
    stable_error_rate: float | None
    canary_p99_ms: float | None
    stable_p99_ms: float | None
    outcome: str = "pass"  # the verdict: pass / fail / no_data

    @classmethod
    def from_verdict(cls, weight: int, verdict: Verdict) -> RolloutStep:
        """Window values of the step's threshold checks (medians of the comparison when no threshold was set)."""
        def pick(metric: str, who: str) -> float | None:
            checks = sorted((c for c in verdict.checks if c.metric == metric), key=lambda c: c.kind != "threshold")
            for c in checks:
                value = c.canary_value if who == "canary" else c.stable_value
                if value is not None:
                    return value
            return None

        return cls(weight, pick("error_rate", "canary"), pick("error_rate", "stable"), pick("latency_p99", "canary"),
                   pick("latency_p99", "stable"), verdict.outcome.value)


def render_chart(
    steps: Sequence[RolloutStep],
    path: Path,
    *,
    title: str,
    error_rate_threshold: float | None = None,
    latency_p99_threshold_ms: float | None = None,
) -> Path:
    """Write the chart to ``path`` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    if not steps:
        raise ValueError("a rollout chart needs at least one step")
    x = list(range(1, len(steps) + 1))
    labels = [f"{i}\n{s.weight}%" for i, s in zip(x, steps, strict=True)]
    nan = float("nan")

    def series(attr: str, scale: float = 1.0) -> list[float]:
        return [nan if getattr(s, attr) is None else getattr(s, attr) * scale for s in steps]

    fig, (ax_w, ax_e, ax_l) = plt.subplots(3, 1, figsize=(8, 8), sharex=True, constrained_layout=True)
    colors = ["tab:green" if s.outcome == "pass" else "tab:red" if s.outcome == "fail" else "tab:gray" for s in steps]
    ax_w.bar(x, [s.weight for s in steps], color=colors)
    ax_w.set_ylim(0, 115)  # room for the outcome labels
    ax_w.set_ylabel("canary weight %")
    ax_w.set_title(title)
    for ax, attr, unit, limit, scale in ((ax_e, "error_rate", "error rate %", error_rate_threshold, 100.0),
                                         (ax_l, "p99_ms", "p99 latency ms", latency_p99_threshold_ms, 1.0)):
        ax.plot(x, series(f"stable_{attr}", scale), "o-", color="tab:blue", label="stable")
        ax.plot(x, series(f"canary_{attr}", scale), "s-", color="tab:orange", label="canary")
        if limit is not None:
            ax.axhline(limit * scale, color="tab:red", linestyle="--", label="threshold")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", fontsize="small")
    for i, s in zip(x, steps, strict=True):
        if s.outcome != "pass":
            ax_w.annotate(s.outcome, (i, s.weight), ha="center", va="bottom", color="tab:red")
    ax_l.set_xticks(x, labels)
    ax_l.set_xlabel("step (canary weight)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
