"""A sampled log of scoring requests and predictions, one JSON-lines file per hour per slot.

Layout: ``<dir>/<slot>/<YYYYmmddHH>.jsonl`` (UTC hour of the request), so a monitoring job reads whole
closed intervals by file name. Each line::

    {"ts": "2026-12-01T15:04:05.123456+00:00", "slot": "canary", "model_version": "recsys/3",
     "status": 200, "latency_ms": 3.2, "request": {...}, "response": {...}}

``request``/``response`` are the parsed JSON bodies (text when not JSON; cut at 64 KiB with
``"truncated": true``). The request path only samples and enqueues raw bytes; a writer thread does the
JSON and the file I/O, so logging costs the event loop next to nothing.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _body(raw: bytes) -> tuple[Any, bool]:
    truncated = len(raw) > MAX_BODY
    raw = raw[:MAX_BODY]
    if not truncated:
        try:
            return json.loads(raw), False
        except ValueError:
            pass
    return raw.decode("utf-8", errors="replace"), truncated


class RequestLog:
    def __init__(self, directory: Path, slot: str, sample_rate: float, *, rng: Callable[[], float] = random.random) -> None:
        self.directory = Path(directory) / slot
        self.slot = slot
        self.sample_rate = sample_rate
        self._rng = rng
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"request-log-{slot}", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        return self.sample_rate > 0 and self._rng() < self.sample_rate

    def write(self, *, when: datetime, version: str, status: int, latency_ms: float, request: bytes, response: bytes) -> None:
        self._queue.put((when, version, status, latency_ms, request, response))

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        current: tuple[str, TextIO] | None = None
        try:
            while (item := self._queue.get()) is not None:
                when, version, status, latency_ms, request, response = item
                name = when.astimezone(UTC).strftime("%Y%m%d%H") + ".jsonl"
                if current is None or current[0] != name:
                    if current is not None:
                        current[1].close()
                    self.directory.mkdir(parents=True, exist_ok=True)
                    current = (name, open(self.directory / name, "a", encoding="utf-8"))  # noqa: SIM115 - kept open per hour
                req, req_cut = _body(request)
                resp, resp_cut = _body(response)
                record = {"ts": when.isoformat(), "slot": self.slot, "model_version": version, "status": status,
                          "latency_ms": round(latency_ms, 3), "request": req, "response": resp}
                if req_cut or resp_cut:
                    record["truncated"] = True
                current[1].write(json.dumps(record, separators=(",", ":")) + "\n")
                if self._queue.empty():
                    current[1].flush()
        except Exception:  # never take the server down for its log
            log.exception("request log writer stopped")
        finally:
            if current is not None:
                current[1].close()
