"""Batch scoring and drift-check throughput (run by hand; numbers in benchmarks/README.md).

    .venv/bin/python benchmarks/monitoring.py [--rows 1000000] [--repeat 3]

1. Batch scoring: ``monitoring.scoring.score_file`` (chunks of 100 000 rows, Parquet writer, atomic replace)
   against calling the same ``mlflow.pyfunc`` model directly on the whole file read with pandas (and writing
   the predictions with ``DataFrame.to_parquet``): rows/s and the ratio (target ≥ 0.9×).
2. Drift: ``monitoring.drift.check_drift`` over 20 features (16 PSI, 4 chi-square) of a 1 M-row window against a
   1 M-row reference, against the same scipy/numpy calls made directly on the arrays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def bench_scoring(root: Path, rows: int, repeat: int) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from airflow_aiinfra.monitoring.scoring import predictions_of, score_file
    from tests.monitoring.support import MODEL_FEATURES, frame

    df = frame(rows, seed=1)
    src = root / "input.parquet"
    df.to_parquet(src, index=False, row_group_size=100_000)
    mlflow.sklearn.save_model(LogisticRegression().fit(df[MODEL_FEATURES].head(5000), df.label.head(5000)),
                              root / "model", pip_requirements=["scikit-learn"])
    model = mlflow.pyfunc.load_model(str(root / "model"))

    def direct() -> None:
        frame_ = pd.read_parquet(src)
        out = frame_[["user_id", *MODEL_FEATURES]].copy()
        out["prediction"] = predictions_of(model.predict(frame_[MODEL_FEATURES]))
        out.to_parquet(root / "direct.parquet", index=False)

    def ours() -> None:
        score_file(model, src, root / "ours.parquet", features=MODEL_FEATURES, keep_columns=["user_id"],
                   chunk_rows=100_000, version="1", run_id="r")

    d_best, d_med = best(direct, repeat)
    o_best, o_med = best(ours, repeat)
    print(f"scoring {rows} rows × {len(MODEL_FEATURES)} features (best / median of {repeat}):")
    print(f"  pyfunc directly (read all, predict, write) {rows / d_best:>12,.0f} rows/s  ({d_best:.2f} / {d_med:.2f} s)")
    print(f"  score_file, 100k-row chunks             {rows / o_best:>12,.0f} rows/s  ({o_best:.2f} / {o_med:.2f} s)")
    print(f"  ratio ours / direct: {d_best / o_best:.2f}×")


def bench_drift(rows: int, repeat: int) -> None:
    import numpy as np
    from scipy import stats
    from scipy.special import rel_entr

    from airflow_aiinfra.monitoring.drift import check_drift
    from tests.monitoring.support import CATEGORICAL, NUMERIC, frame

    ref, cur = frame(rows, seed=1), frame(rows, seed=2, shift={"f3": 0.5})
    features = ([{"name": n, "type": "numerical", "test": "psi", "threshold": 0.2} for n in NUMERIC]
                + [{"name": n, "type": "categorical", "test": "chi2", "threshold": 0.05} for n in CATEGORICAL])

    def direct() -> None:
        for n in NUMERIC:
            r, c = ref[n].to_numpy(), cur[n].to_numpy()
            edges = np.quantile(r, np.linspace(0, 1, 11))
            edges[0], edges[-1] = -np.inf, np.inf
            p = np.clip(np.histogram(r, edges)[0] / len(r), 1e-4, None)
            q = np.clip(np.histogram(c, edges)[0] / len(c), 1e-4, None)
            float(np.sum(rel_entr(q, p) + rel_entr(p, q)))
        for n in CATEGORICAL:
            cats, r_idx = np.unique(ref[n].to_numpy(), return_inverse=True)
            c_idx = np.searchsorted(cats, cur[n].to_numpy())
            stats.chi2_contingency(np.vstack([np.bincount(r_idx), np.bincount(c_idx, minlength=len(cats))]))

    def ours() -> None:
        check_drift(ref, cur, features, drift_share=0.5)

    d_best, _ = best(direct, repeat)
    o_best, o_med = best(ours, repeat)
    print(f"drift, {rows} rows × 20 features (16 PSI, 4 chi-square), window vs reference of the same size:")
    print(f"  scipy/numpy directly  {d_best:.2f} s")
    print(f"  check_drift           {o_best:.2f} s (median {o_med:.2f} s), {o_best / d_best:.2f}× the direct calls")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_scoring(Path(tmp), ns.rows, ns.repeat)
    bench_drift(ns.rows, ns.repeat)


if __name__ == "__main__":
    main()
