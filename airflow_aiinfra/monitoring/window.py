"""The window of an asset-triggered run, from the event that triggered it.

A retrain request (``monitor.retrain``) carries ``data_interval_start``/``data_interval_end`` in its extra.
Airflow 3 creates the run it triggers with no logical date and no data interval; :func:`fill_event_window`
puts the event's window into the task's context under the names a timed run has (``ds``, ``ds_nodash``,
``ts``, ``logical_date`` = the window's start, ``data_interval_start/end``), so the same templates and
operators work. Plain functions over the context mapping: no Airflow import.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

from airflow_aiinfra.contract import EVENT_WINDOW_END, EVENT_WINDOW_START


def event_window(events: Any) -> tuple[datetime, datetime] | None:
    """The window of the newest triggering event that carries one, or None."""
    import pendulum

    best: tuple[Any, datetime, datetime] | None = None
    for key in list(events or ()):
        for event in events[key]:
            extra = getattr(event, "extra", None) or {}
            if EVENT_WINDOW_START not in extra or EVENT_WINDOW_END not in extra:
                continue
            stamp = getattr(event, "timestamp", None)
            start = pendulum.parse(str(extra[EVENT_WINDOW_START]))
            end = pendulum.parse(str(extra[EVENT_WINDOW_END]))
            if best is None or (stamp is not None and best[0] is not None and stamp > best[0]):
                best = (stamp, start, end)  # type: ignore[assignment]
    return None if best is None else (best[1], best[2])


def window_values(start: datetime, end: datetime) -> dict[str, Any]:
    ds = start.strftime("%Y-%m-%d")
    ts = start.isoformat()
    return {
        "logical_date": start,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": ts,
        "ts_nodash": start.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
        "data_interval_start": start,
        "data_interval_end": end,
    }


def fill_event_window(context: MutableMapping[str, Any]) -> tuple[datetime, datetime] | None:
    """Give an asset-triggered run's context the event's window; a timed run's context is left as it is."""
    if context.get("logical_date") is not None:
        return None
    window = event_window(context.get("triggering_asset_events"))
    if window is None:
        return None
    context.update(window_values(*window))
    return window
