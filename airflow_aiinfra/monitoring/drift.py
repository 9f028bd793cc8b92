"""Drift statistics: each feature (and the predictions) of a window against a reference, with scipy's tests.

| test | for | statistic (scipy) | drift when |
| --- | --- | --- | --- |
| ``psi`` | numbers | Σ (c − r)·ln(c / r) over 10 reference-quantile bins: ``special.rel_entr`` both ways | > threshold |
| ``wasserstein`` | numbers | ``stats.wasserstein_distance`` / the reference's standard deviation | > threshold |
| ``ks`` | numbers | p-value of ``stats.ks_2samp`` | < threshold |
| ``chi2`` | categories | p-value of ``stats.chi2_contingency`` on the two count rows | < threshold |
| ``jensenshannon`` | categories | ``spatial.distance.jensenshannon`` (base 2) of the two shares | > threshold |

A value equal to its threshold is no drift. The dataset drifts when the share of drifted features is at least
``drift_share``, or when the predictions drift. Empty bins are floored at 1e-4 before PSI (as Evidently does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

P_VALUE_TESTS = ("ks", "chi2")
PSI_BINS = 10
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class FeatureResult:
    name: str
    test: str
    statistic: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int

    @property
    def rule(self) -> str:
        return f"p-value < {self.threshold:g}" if self.test in P_VALUE_TESTS else f"{self.test} > {self.threshold:g}"

    def describe(self) -> str:
        stat = "p-value" if self.test in P_VALUE_TESTS else self.test
        return f"{self.name}: {stat} ({self.test}) = {self.statistic:.6g}, threshold {self.threshold:g}"


@dataclass
class DriftReport:
    features: list[FeatureResult]
    prediction: FeatureResult | None
    drift_share: float
    share: float = 0.0
    dataset_drift: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[FeatureResult]:
        found = [f for f in self.features if f.drifted]
        return found + ([self.prediction] if self.prediction is not None and self.prediction.drifted else [])

    def as_dict(self) -> dict[str, Any]:
        return {"features": [asdict(f) for f in self.features],
                "prediction": asdict(self.prediction) if self.prediction else None,
                "drift_share": self.drift_share, "share": self.share, "dataset_drift": self.dataset_drift,
                "notes": self.notes}


def psi(reference: Any, current: Any, bins: int = PSI_BINS) -> float:
    import numpy as np
    from scipy.special import rel_entr

    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # a constant reference: one bin for it, one for anything else
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    r = np.histogram(reference, edges)[0] / len(reference)
    c = np.histogram(current, edges)[0] / len(current)
    r, c = np.clip(r, PSI_FLOOR, None), np.clip(c, PSI_FLOOR, None)
    return float(np.sum(rel_entr(c, r) + rel_entr(r, c)))


def _shares(reference: Any, current: Any) -> tuple[Any, Any]:
    import pandas as pd

    r = pd.Series(reference).astype(str).value_counts()
    c = pd.Series(current).astype(str).value_counts()
    cats = sorted(set(r.index) | set(c.index))
    return r.reindex(cats, fill_value=0).to_numpy(), c.reindex(cats, fill_value=0).to_numpy()


def statistic(test: str, reference: Any, current: Any) -> float:
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    if test == "psi":
        return psi(reference, current)
    if test == "wasserstein":
        std = float(np.std(reference))
        return float(stats.wasserstein_distance(reference, current)) / (std if std > 0 else 1.0)
    if test == "ks":
        return float(stats.ks_2samp(reference, current).pvalue)
    r, c = _shares(reference, current)
    if test == "chi2":
        if len(r) < 2:
            return 1.0  # one category on both sides: nothing can differ
        keep = (r + c) > 0
        return float(stats.chi2_contingency(np.vstack([r[keep], c[keep]])).pvalue)
    if test == "jensenshannon":
        return float(distance.jensenshannon(r / r.sum(), c / c.sum(), base=2))
    raise ValueError(f"unknown drift test {test!r}")


def is_drift(test: str, value: float, threshold: float) -> bool:
    return value < threshold if test in P_VALUE_TESTS else value > threshold


def check_column(spec: dict[str, Any], reference: Any, current: Any) -> FeatureResult:
    import numpy as np

    ref, cur = reference.dropna(), current.dropna()
    if spec["type"] == "numerical":
        ref, cur = ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)
    else:
        ref, cur = ref.to_numpy(), cur.to_numpy()
    if len(ref) == 0 or len(cur) == 0:
        raise ValueError(f"{spec['name']}: no values in the {'reference' if len(ref) == 0 else 'current window'}")
    value = statistic(spec["test"], ref, cur)
    value = 0.0 if not np.isfinite(value) and spec["test"] not in P_VALUE_TESTS else value
    return FeatureResult(spec["name"], spec["test"], value, float(spec["threshold"]),
                         is_drift(spec["test"], value, float(spec["threshold"])), len(ref), len(cur))


def check_drift(reference: Any, current: Any, features: list[dict[str, Any]], *, drift_share: float,
                prediction: dict[str, Any] | None = None, reference_predictions: Any = None,
                current_predictions: Any = None) -> DriftReport:
    """Every feature of ``features`` ({name, type, test, threshold}) of ``current`` against ``reference``
    (DataFrames); the predictions too when ``prediction`` and both prediction series are given."""
    missing = [(side, f["name"]) for side, frame in (("reference", reference), ("current window", current))
               for f in features if f["name"] not in frame.columns]
    if missing:
        side, name = missing[0]
        raise ValueError(f"feature {name!r} is not a column of the {side} "
                         f"(columns: {', '.join(map(str, (reference if side == 'reference' else current).columns))})")
    results = [check_column(f, reference[f["name"]], current[f["name"]]) for f in features]
    pred = None
    if prediction is not None and reference_predictions is not None and current_predictions is not None:
        import pandas as pd

        pred = check_column(prediction, pd.Series(reference_predictions), pd.Series(current_predictions))
    report = DriftReport(results, pred, drift_share)
    report.share = sum(r.drifted for r in results) / len(results) if results else 0.0
    report.dataset_drift = report.share >= drift_share or bool(pred and pred.drifted)
    return report
