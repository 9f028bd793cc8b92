"""The model servers' request/prediction log, written by the servers' own writer, read back as a window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from airflow_aiinfra.monitoring.request_log import read_window
from airflow_aiinfra.serving.request_log import RequestLog


def test_a_window_of_the_request_log_becomes_features_and_predictions(tmp_path: Path) -> None:
    logs = {slot: RequestLog(tmp_path, slot, 1.0) for slot in ("stable", "canary")}
    body = lambda rows: json.dumps({"dataframe_split": {"columns": ["a", "b"], "data": rows}}).encode()  # noqa: E731
    answer = lambda preds: json.dumps({"predictions": preds}).encode()  # noqa: E731
    writes = [
        ("stable", datetime(2024, 6, 1, 9, 59, tzinfo=UTC), 200, [[0.0, 1.0]], [0]),  # before the window
        ("stable", datetime(2024, 6, 1, 10, 5, tzinfo=UTC), 200, [[1.0, 2.0], [3.0, 4.0]], [1, 0]),
        ("canary", datetime(2024, 6, 1, 10, 30, tzinfo=UTC), 200, [[5.0, 6.0]], [1]),
        ("canary", datetime(2024, 6, 1, 10, 40, tzinfo=UTC), 500, [[7.0, 8.0]], []),  # not answered
        ("stable", datetime(2024, 6, 1, 11, 0, tzinfo=UTC), 200, [[9.0, 9.0]], [1]),  # the window's end: out
    ]
    for slot, when, status, rows, preds in writes:
        logs[slot].write(when=when, version="recsys/3", status=status, latency_ms=1.0, request=body(rows),
                         response=answer(preds))
    for log in logs.values():
        log.close()
    frame = read_window(tmp_path, datetime(2024, 6, 1, 10, tzinfo=UTC), datetime(2024, 6, 1, 11, tzinfo=UTC))
    got = sorted(zip(frame.a, frame.b, frame.prediction, frame.slot, strict=True))
    assert got == [(1.0, 2.0, 1, "stable"), (3.0, 4.0, 0, "stable"), (5.0, 6.0, 1, "canary")]
    assert set(frame.model_version) == {"recsys/3"}


def test_the_offline_store_window_is_the_sources_rows_in_the_interval(tmp_path: Path) -> None:
    from datetime import timedelta

    from airflow_aiinfra.monitoring.offline import read_window as offline_window
    from tests.feast_support import T0, USERS, write_clicks

    path = write_clicks(tmp_path / "clicks.parquet")  # one row per user per hour from T0 (some skipped)
    frame = offline_window([{"path": str(path), "timestamp_field": "event_timestamp"}], T0 + timedelta(hours=2),
                           T0 + timedelta(hours=3))
    assert {t.isoformat() for t in frame.event_timestamp} == {"2024-06-01T02:00:00+00:00"}
    assert len(frame) == sum(1 for u in range(1, USERS + 1) if (u + 2) % 5)
