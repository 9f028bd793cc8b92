"""An asset-triggered run takes its window from the triggering event's extra."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from airflow_aiinfra.monitoring.window import fill_event_window


@dataclass
class Event:  # the fields of Airflow's AssetEventDagRunReferenceResult that the window needs
    extra: dict = field(default_factory=dict)
    timestamp: datetime = datetime(2024, 6, 9, tzinfo=UTC)


def test_an_asset_triggered_context_gets_the_event_window() -> None:
    events = {"aiinfra://s/retrain": [
        Event({"data_interval_start": "2024-06-01T00:00:00+00:00", "data_interval_end": "2024-06-02T00:00:00+00:00"},
              datetime(2024, 6, 2, 1, tzinfo=UTC)),
        Event({"data_interval_start": "2024-06-03T00:00:00+00:00", "data_interval_end": "2024-06-04T00:00:00+00:00"},
              datetime(2024, 6, 4, 1, tzinfo=UTC)),
        Event({"reason": "no window"}, datetime(2024, 6, 5, tzinfo=UTC)),
    ]}
    ctx = {"logical_date": None, "triggering_asset_events": events}
    fill_event_window(ctx)
    assert ctx["ds"] == "2024-06-03" and ctx["ds_nodash"] == "20240603"
    assert ctx["data_interval_end"].isoformat() == "2024-06-04T00:00:00+00:00"
    assert ctx["logical_date"] == ctx["data_interval_start"]


def test_a_timed_run_is_left_alone() -> None:
    ctx = {"logical_date": datetime(2024, 1, 1, tzinfo=UTC), "ds": "2024-01-01", "triggering_asset_events": {}}
    assert fill_event_window(ctx) is None and ctx["ds"] == "2024-01-01"
