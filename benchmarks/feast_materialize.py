"""Materialization throughput through our task vs `FeatureStore.materialize` called directly, on the
same data and the same kind of online store; and the consistency check's time for 10,000 entities.

    .venv/bin/python benchmarks/feast_materialize.py [--entities 50000] [--repeat 3] [--redis]

Each measurement starts from an empty online table (first load) or from the same window already
loaded (replay). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2024, 6, 1, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
REDIS_DB = 12


def make_data(path: Path, entities: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frames = []
    for minute in (5, 35):  # two rows per entity in the window: materialize keeps the latest
        frames.append(pd.DataFrame({
            "user_id": np.arange(entities, dtype="int64"),
            "event_timestamp": START + timedelta(minutes=minute),
            "clicks": rng.integers(0, 1000, entities),
            "ctr": rng.random(entities).astype("float32"),
            "segment": rng.choice(["a", "b", "c"], entities),
        }))
    pd.concat(frames).to_parquet(path, index=False)


SPEC = """\
name: bench
feature_store:
  entities: [{{name: user, join_keys: [user_id]}}]
  sources: {{clicks: {{path: {path}}}}}
  features:
    - {{name: clicks, entity: user, dtype: int64, ttl: 7d}}
    - {{name: ctr, entity: user, dtype: float32, ttl: 7d}}
    - {{name: segment, entity: user, dtype: string, ttl: 7d}}
  consistency: {{sample_size: 10000}}
{store}"""


def operators(data: Path, store: str):
    from airflow_aiinfra.plan.build import build_plans
    from airflow_aiinfra.plan.context import PlanOptions
    from airflow_aiinfra.spec.load import load_spec_text
    from airflow_aiinfra.wiring.dag import build_dag

    [plan] = build_plans(load_spec_text(SPEC.format(path=data, store=store), "bench.yaml"), PlanOptions())
    return {t.task_id: t for t in build_dag(plan).tasks}


def clear_online(hook) -> None:
    if hook.online_type == "redis":
        import redis

        redis.Redis(db=REDIS_DB).flushdb()
        return
    import sqlite3

    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    con = sqlite3.connect(SqliteOnlineStore._get_db_path(hook.repo_config))
    for table in hook.online_tables():
        con.execute(f'DELETE FROM "{table}"')
    con.commit()
    con.close()


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--redis", action="store_true", help="also on the machine's Redis (DB 12, flushed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="feast-bench-"))
    os.environ["AIRFLOW_CONN_BENCH_REDIS"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
    data = work / "clicks.parquet"
    make_data(data, args.entities)
    stores = {"sqlite": ""} | ({"redis": "  online_store: {type: redis, conn_id: bench_redis}\n"} if args.redis else {})
    ctx = {"data_interval_start": START, "data_interval_end": END, "dag": None}
    print(f"{args.entities} entities, 2 rows each in the window; median of {args.repeat} runs")
    for kind, block in stores.items():
        results: dict[str, list[float]] = {k: [] for k in ("ours-first", "direct-first", "ours-replay",
                                                           "direct-replay")}
        for mode in ("ours", "direct"):
            os.environ["AIRFLOW__AIINFRA__FEAST_HOME"] = str(work / f"{kind}-{mode}")
            ops = operators(data, block)
            ops["features.apply"].execute({})
            mat = ops["features.materialize"]
            hook = mat.hook
            if mode == "direct":
                # Feast's own defaults: SQLite without our keep-newer trigger, Redis with its own
                # timestamp check (skip_dedup false); nothing counted, no checks, just materialize
                if kind == "sqlite":
                    hook.store_payload = {**hook.store_payload, "allow_overwrite_newer": True}
                    hook.ensure_replay_policy()
                run = lambda h=hook: h.store.materialize(START, END - timedelta(microseconds=1),  # noqa: E731
                                                         feature_views=["user_clicks"])
            else:
                run = lambda m=mat: m.execute(ctx)  # noqa: E731
            run()  # warm up (imports, registry cache)
            for _ in range(args.repeat):
                clear_online(hook)
                results[f"{mode}-first"].append(timed(run))
                results[f"{mode}-replay"].append(timed(run))
            if mode == "ours":
                check = ops["features.consistency"]
                t = timed(lambda c=check: c.check(START, END))
                report = check.check(START, END)
                print(f"[{kind}] consistency check: {t:.2f}s for {report['features'][0]['checked']} entities "
                      f"x {len(report['features'])} features, status {report['status']}")
        for phase in ("first", "replay"):
            ours, direct = (statistics.median(results[f"{m}-{phase}"]) for m in ("ours", "direct"))
            print(f"[{kind}] {phase:6}: ours {args.entities / ours:9.0f} rows/s ({ours:.2f}s)  "
                  f"direct {args.entities / direct:9.0f} rows/s ({direct:.2f}s)  ratio {ours / direct:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
