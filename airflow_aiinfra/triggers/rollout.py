"""Wait out one analysis window of a canary step in the triggerer (no worker slot held).

The analysis sensor (``sensors/rollout.py``) defers with this trigger when a step starts; the trigger sleeps
until the window has ended plus one scrape (so Prometheus holds the window's last samples) and yields one
event ``{"status": "elapsed", "window_end", "failures"}``. Judging happens when the task resumes, on the
worker, where the Prometheus connection and the judge live. ``until`` is an absolute epoch time, so a
trigger re-created after a triggerer restart keeps the original window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class RolloutWindowTrigger(BaseTrigger):
    def __init__(self, *, until: float, window_end: float, failures: int = 0, step: int = 0, weight: int = 0) -> None:
        super().__init__()
        self.until = until
        self.window_end = window_end
        self.failures = failures
        self.step = step
        self.weight = weight

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"until": self.until, "window_end": self.window_end, "failures": self.failures, "step": self.step,
             "weight": self.weight},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        delay = self.until - time.time()
        if delay > 0:
            self.log.info("canary at %d %% (step %d): judging in %.1f s", self.weight, self.step, delay)
            await asyncio.sleep(delay)
        yield TriggerEvent({"status": "elapsed", "window_end": self.window_end, "failures": self.failures})
