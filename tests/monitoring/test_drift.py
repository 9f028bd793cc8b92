"""Drift: no false alarms on windows from the training distribution (20 features, fixed seeds), a shifted
feature named with a statistic equal to an independent computation, shifted predictions caught, and the
thresholds and the drifted-share rule at their edges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_aiinfra.monitoring.drift import check_drift, is_drift, psi
from airflow_aiinfra.operators.drift import run_drift
from airflow_aiinfra.operators.monitoring import outcome
from tests.monitoring.support import CATEGORICAL, MODEL_FEATURES, NUMERIC, Registry, frame

FEATURES = ([{"name": n, "type": "numerical", "test": "psi", "threshold": 0.2} for n in NUMERIC]
            + [{"name": n, "type": "categorical", "test": "chi2", "threshold": 0.05} for n in CATEGORICAL])
WINDOW = (datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC))


@pytest.fixture(scope="module")
def reference():
    return frame(5000, seed=1)  # the champion's training data (data_dir/train.parquet)


def independent_psi(ref, cur, bins: int = 10) -> float:
    """PSI written out with numpy alone: reference deciles, shares floored at 1e-4, Σ (c − r)·ln(c / r)."""
    import numpy as np

    edges = np.quantile(ref, np.linspace(0, 1, bins + 1))
    idx_r = np.clip(np.searchsorted(edges[1:-1], ref, side="right"), 0, bins - 1)
    idx_c = np.clip(np.searchsorted(edges[1:-1], cur, side="right"), 0, bins - 1)
    r = np.maximum(np.bincount(idx_r, minlength=bins) / len(ref), 1e-4)
    c = np.maximum(np.bincount(idx_c, minlength=bins) / len(cur), 1e-4)
    return float(((c - r) * np.log(c / r)).sum())


def test_windows_from_the_training_distribution_do_not_drift(reference) -> None:
    """30 windows × 20 features (16 PSI, 4 chi-square), seeds 100..129. Measured: 0 of 30 windows flagged as
    dataset drift; 3 of 600 feature checks flagged (0.5 %), all chi-square at p < 0.05 (3 of its 120
    checks, 2.5 %; a p-value test flags ~5 % of same-distribution checks by construction); the largest PSI of any window 0.023 (threshold 0.2)."""
    flagged_features = flagged_windows = 0
    largest_psi = 0.0
    for seed in range(100, 130):
        report = check_drift(reference, frame(2000, seed=seed), FEATURES, drift_share=0.5)
        flagged_windows += report.dataset_drift
        flagged_features += sum(f.drifted for f in report.features)
        largest_psi = max(largest_psi, *(f.statistic for f in report.features if f.test == "psi"))
        assert not any(f.drifted for f in report.features if f.test == "psi")
    assert flagged_windows == 0
    assert flagged_features / 600 <= 0.02
    assert largest_psi < 0.05


def test_one_shifted_feature_fails_named_with_its_statistic(reference) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    current = frame(2000, seed=200, shift={"f7": 0.8})
    report = check_drift(reference, current, FEATURES, drift_share=0.05)
    drifted = [f for f in report.features if f.drifted]
    assert [f.name for f in drifted] == ["f7"] and report.dataset_drift
    assert drifted[0].statistic == pytest.approx(independent_psi(reference.f7.to_numpy(), current.f7.to_numpy()),
                                                 rel=1e-9)
    message = "; ".join(f.describe() for f in drifted)
    with pytest.raises(AirflowFailException, match=r"f7: psi \(psi\) = 0\.\d+, threshold 0\.2"):
        outcome(None, report.dataset_drift, "fail", message)
    import logging

    assert outcome(logging.getLogger("t"), True, "warn", message) == "warn"  # warn: succeeds, recorded


def test_jensen_shannon_matches_an_independent_computation(reference) -> None:
    import numpy as np

    current = frame(2000, seed=201)
    current["c2"] = np.where(current.index % 3 == 0, "e", current["c2"])
    spec = [{"name": "c2", "type": "categorical", "test": "jensenshannon", "threshold": 0.1}]
    got = check_drift(reference, current, spec, drift_share=1.0).features[0]
    cats = sorted(set(reference.c2) | set(current.c2))
    p = np.array([(reference.c2 == c).mean() for c in cats])
    q = np.array([(current.c2 == c).mean() for c in cats])
    m = (p + q) / 2
    kl = lambda a, b: float(np.sum(np.where(a > 0, a * np.log2(np.where(a > 0, a, 1) / b), 0)))  # noqa: E731
    assert got.statistic == pytest.approx(np.sqrt(0.5 * kl(p, m) + 0.5 * kl(q, m)), rel=1e-9)
    assert got.drifted


@pytest.mark.parametrize(("test", "value", "threshold", "drift"), [
    pytest.param("psi", 0.2, 0.2, False, id="psi-equal-is-no-drift"),
    pytest.param("psi", 0.2000001, 0.2, True, id="psi-above"),
    pytest.param("wasserstein", 0.1, 0.1, False, id="wasserstein-equal"),
    pytest.param("jensenshannon", 0.11, 0.1, True, id="js-above"),
    pytest.param("ks", 0.05, 0.05, False, id="ks-p-equal-is-no-drift"),
    pytest.param("ks", 0.0499, 0.05, True, id="ks-p-below"),
    pytest.param("chi2", 0.9, 0.05, False, id="chi2-high-p"),
])
def test_threshold_edges(test: str, value: float, threshold: float, drift: bool) -> None:
    assert is_drift(test, value, threshold) is drift


@pytest.mark.parametrize(("drifting", "share", "dataset_drift"), [
    pytest.param(10, 0.5, True, id="10-of-20-at-0.5"),
    pytest.param(9, 0.5, False, id="9-of-20-at-0.5"),
    pytest.param(20, 1.0, True, id="all-at-1.0"),
    pytest.param(19, 1.0, False, id="19-of-20-at-1.0"),
    pytest.param(1, 0.05, True, id="1-of-20-at-0.05"),
    pytest.param(0, 0.05, False, id="none"),
])
def test_drifted_share_rule(reference, drifting: int, share: float, dataset_drift: bool) -> None:
    current = frame(1000, seed=300)
    # a threshold no PSI reaches (no drift) or one every PSI passes (drift): exactly `drifting` features drift
    spec = [{"name": n, "type": "numerical", "test": "psi", "threshold": 1e-12 if i < drifting else 100.0}
            for i, n in enumerate(NUMERIC + ["f0"] * 0)] + [
            {"name": n, "type": "categorical", "test": "jensenshannon", "threshold": 1e-12 if 16 + i < drifting else 1.0}
            for i, n in enumerate(CATEGORICAL)]
    report = check_drift(reference, current, spec, drift_share=share)
    assert sum(f.drifted for f in report.features) == drifting
    assert report.share == pytest.approx(drifting / 20)
    assert report.dataset_drift is dataset_drift


def test_psi_of_identical_samples_is_zero(reference) -> None:
    assert psi(reference.f1.to_numpy(), reference.f1.to_numpy()) == pytest.approx(0.0, abs=1e-12)


def test_shifted_predictions_are_caught_against_the_champion(registry: Registry, data_dir: Path, tmp_path: Path) -> None:
    """The window's features are from the training distribution, its predictions from version 2 (which
    predicts the opposite): only the prediction drifts, and that is drift of the whole. The result is logged to
    a monitoring run tagged with the champion's version, with the HTML report."""
    import mlflow.pyfunc

    current = frame(2000, seed=400)
    with registry.hook().session():
        other = mlflow.pyfunc.load_model("models:/recsys/2")
    current["prediction"] = other.predict(current[MODEL_FEATURES])
    path = tmp_path / "window.parquet"
    current.to_parquet(path, index=False)
    result = run_drift(registry.hook(), model_uri="models:/recsys@champion", experiment="recsys",
                       dag_id="recsys__monitor", start=WINDOW[0], end=WINDOW[1], reference_path=None, current="file",
                       current_path=str(path), features=FEATURES[:4],
                       prediction={"name": "prediction", "type": "categorical", "test": "jensenshannon",
                                   "threshold": 0.1}, drift_share=0.5)
    report = result["report"]
    assert not any(f["drifted"] for f in report["features"])
    assert report["prediction"]["drifted"] and result["found"]
    assert "predictions drifted" in result["message"] and "prediction: jensenshannon" in result["message"]
    client = registry.client()
    run = client.get_run(result["run_id"])
    assert run.data.tags["aiinfra.model_version"] == "recsys/1"
    assert run.data.tags["aiinfra.reference"] == str(data_dir / "train.parquet")  # what v1 was trained on
    assert {a.path for a in client.list_artifacts(result["run_id"], "monitoring")} >= {"monitoring/report.html"}
    assert client.get_model_version("recsys", "1").tags["aiinfra.monitoring.drift_run"] == result["run_id"]
