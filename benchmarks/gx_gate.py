"""Gate overhead: DataQualityOperator.validate_frame vs calling GX 1.x directly, same DataFrame, same process.

    .venv/bin/python benchmarks/gx_gate.py [--rows 1000000] [--repeats 5]

Both sides build an ephemeral context, a pandas data source, the same suite and run it with the
same result format (SUMMARY, 20 unexpected values) and progress bars off. The gate adds: building
the suite from the spec's `{name: args}` entries, a checkpoint, the plain-data summary, and (in the
"docs" variant) building the run's Data Docs. Reading the data is excluded (it is the same for
both); it is reported separately. Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

EXPECTATIONS = [
    {"expect_column_values_to_not_be_null": {"column": "user_id"}},
    {"expect_column_values_to_be_unique": {"column": "user_id"}},
    {"expect_column_values_to_be_between": {"column": "age", "min_value": 0, "max_value": 120}},
    {"expect_column_values_to_be_in_set": {"column": "country", "value_set": ["DE", "FR", "US", "GB", "IT"]}},
    {"expect_column_values_to_be_between": {"column": "score", "min_value": 0.0, "max_value": 1.0, "mostly": 0.99}},
    {"expect_table_row_count_to_be_between": {"min_value": 1000}},
]


def frame(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "user_id": np.arange(rows),
        "age": rng.integers(0, 100, rows),
        "country": rng.choice(["DE", "FR", "US", "GB", "IT"], rows),
        "score": rng.random(rows),
    })


def direct(df) -> bool:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    ctx = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False), analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False)))
    bd = ctx.data_sources.add_pandas("pd").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
    suite = ctx.suites.add(gx.ExpectationSuite(name="s"))
    for entry in EXPECTATIONS:
        for name, args in entry.items():
            suite.add_expectation(get_expectation_impl(name)(**args))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=bd, suite=suite))
    res = vd.run(batch_parameters={"dataframe": df},
                 result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20})
    return bool(res.success)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gx-gate-bench-"))
    os.environ["AIRFLOW__AIINFRA__DATA_DOCS_FOLDER"] = str(tmp / "docs")

    from airflow_aiinfra.hooks.data_source import read_path
    from airflow_aiinfra.operators.data_quality import DataQualityOperator
    from airflow_aiinfra.quality.gx import import_gx

    import_gx()
    df = frame(args.rows)
    df.to_parquet(tmp / "events.parquet")
    t = time.perf_counter()
    read_path(str(tmp / "events.parquet"), "parquet")
    read_s = time.perf_counter() - t
    op = DataQualityOperator(task_id="events", gate="events", path="events.parquet", expectations=EXPECTATIONS)

    def gate(docs: bool, i: int) -> bool:
        docs_dir = tmp / "docs" / "bench" / f"run{i}" / "events" if docs else None
        return op.validate_frame(df, run_name=f"run{i}", docs_dir=docs_dir)["success"]

    direct(df.head(1000))  # warm caches (imports, registry) on both sides
    gate(False, -1)
    times: dict[str, list[float]] = {"direct": [], "gate": [], "gate+docs": []}
    for i in range(args.repeats):
        for name, fn in (("direct", lambda: direct(df)), ("gate", lambda i=i: gate(False, i)),
                         ("gate+docs", lambda i=i: gate(True, i))):
            t = time.perf_counter()
            assert fn() is True, name
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"rows: {args.rows:,}  repeats: {args.repeats}  expectations: {len(EXPECTATIONS)}")
    print(f"read Parquet (not in the ratios): {read_s:.3f} s")
    for k, v in times.items():
        print(f"{k:10s} median {med[k]:.3f} s  (min {min(v):.3f}, max {max(v):.3f})")
    print(f"ratio gate / direct:      {med['gate'] / med['direct']:.3f}x")
    print(f"ratio gate+docs / direct: {med['gate+docs'] / med['direct']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
