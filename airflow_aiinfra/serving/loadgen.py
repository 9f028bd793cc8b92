"""A steady-rate HTTP load generator with no retries, counting answers by ``X-Model-Version``.

For tests and the demo: requests are *scheduled* at a fixed rate (open loop: a slow answer does not slow
the schedule, and latency is measured from the scheduled time, so queueing shows), sent over a pool of
keep-alive connections by a minimal HTTP/1.1 client on asyncio streams (cheap enough to share two cores
with the servers it measures). Every request is sent once: a refused connection, a reset, a timeout or a
non-2xx answer is a failure, counted by kind. It runs in its own thread; :meth:`LoadGenerator.snapshot`
reads (and optionally resets) the counts, so a test can cut a run into phases::

    with LoadGenerator("http://127.0.0.1:8080/invocations", rate=150, bodies=bodies) as load:
        ...; phase = load.snapshot(reset=True)
    assert load.stats.failed == 0
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

VERSION_HEADER = b"x-model-version"


@dataclass
class LoadStats:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    by_version: Counter[str] = field(default_factory=Counter)  # 2xx answers per X-Model-Version
    failures: Counter[str] = field(default_factory=Counter)  # "status 503", "timeout", "ConnectionResetError", ...
    latencies_ms: list[float] = field(default_factory=list)  # sorted
    seconds: float = 0.0

    def share(self, version: str) -> float:
        total = sum(self.by_version.values())
        return self.by_version[version] / total if total else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        return self.latencies_ms[min(len(self.latencies_ms) - 1, int(q / 100 * len(self.latencies_ms)))]

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        versions = ", ".join(f"{v}: {n}" for v, n in sorted(self.by_version.items()))
        return (f"{self.sent} sent in {self.seconds:.1f}s ({self.rate:.0f}/s), {self.ok} ok, {self.failed} failed "
                f"{dict(self.failures) or ''}; p50 {self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms; "
                f"{versions}")


class _Failure(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes | None, bool]:
    """(status, X-Model-Version, whether the server keeps the connection) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, version, keep = None, False, None, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == VERSION_HEADER:
            version = value
        elif name == b"connection" and value.lower() == b"close":
            keep = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep = False
    return status, version, keep


class LoadGenerator:
    def __init__(
        self,
        url: str,
        *,
        rate: float,
        bodies: Sequence[bytes],
        headers: Mapping[str, str] | None = None,
        connections: int = 16,
        timeout: float = 5.0,
        duration: float | None = None,
    ) -> None:
        if rate <= 0 or not bodies:
            raise ValueError("rate must be positive and bodies non-empty")
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path or "/"
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._requests = [
            (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(b)}\r\n{extra}\r\n").encode() + b for b in bodies
        ]
        self.rate, self.connections, self.timeout, self.duration = rate, connections, timeout, duration
        self.stats = LoadStats()
        self._phase = LoadStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._phase_started = 0.0

    # --- control (any thread) -----------------------------------------------------------------------
    def start(self) -> LoadGenerator:
        self._started = self._phase_started = time.monotonic()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="loadgen", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadStats:
        """Stop scheduling, wait for the requests in flight, return the totals."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 10)
        with self._lock:
            self.stats.seconds = time.monotonic() - self._started
            return self.stats

    def wait(self) -> LoadStats:
        """Wait for a run with a ``duration`` to finish."""
        if self._thread is not None:
            self._thread.join()
        return self.stop()

    def snapshot(self, reset: bool = False) -> LoadStats:
        """Counts since the last reset (or the start); ``reset`` starts a new phase."""
        with self._lock:
            phase = self._phase
            phase.seconds = time.monotonic() - self._phase_started
            copy = LoadStats(phase.sent, phase.ok, phase.failed, Counter(phase.by_version), Counter(phase.failures),
                             list(phase.latencies_ms), phase.seconds)
            if reset:
                self._phase, self._phase_started = LoadStats(), time.monotonic()
        return copy

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the loop ---------------------------------------------------------------------------------------
    def _record(self, started: float, version: bytes | None, failure: str | None) -> None:
        latency = (time.monotonic() - started) * 1000
        with self._lock:
            for s in (self.stats, self._phase):
                s.sent += 1
                if failure is None:
                    s.ok += 1
                    s.by_version[version.decode() if version else "none"] += 1
                    bisect.insort(s.latencies_ms, latency)
                else:
                    s.failed += 1
                    s.failures[failure] += 1

    async def _main(self) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.connections)]
        start, i = time.monotonic(), 0
        while not self._stop.is_set():
            due = start + i / self.rate
            if self.duration is not None and due - start >= self.duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((due, self._requests[i % len(self._requests)]))
            i += 1
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)

    async def _worker(self, queue: asyncio.Queue[tuple[float, bytes] | None]) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while (item := await queue.get()) is not None:
            due, request = item
            failure, version, broken = None, None, False
            try:
                async with asyncio.timeout(self.timeout):
                    if writer is None:
                        try:
                            reader, writer = await asyncio.open_connection(self.host, self.port)
                        except OSError as exc:
                            raise _Failure(f"connect: {type(exc).__name__}") from exc
                    assert reader is not None
                    writer.write(request)
                    status, version, keep = await _read_response(reader)
                if not 200 <= status < 300:
                    failure = f"status {status}"
                broken = not keep
            except TimeoutError:
                failure, broken = "timeout", True
            except _Failure as exc:
                failure, broken = str(exc), True
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                failure, broken = type(exc).__name__, True
            if broken and writer is not None:
                writer.close()
                writer = None
            self._record(due, version, failure)
        if writer is not None:
            writer.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m airflow_aiinfra.serving.loadgen URL --rate 200 --duration 30 [--header K:V] --body-file F``:
    one steady run, its summary as JSON on stdout (exit 1 when any request failed)."""
    import argparse
    import json
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m airflow_aiinfra.serving.loadgen", description=main.__doc__)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="requests per second, scheduled open-loop")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--header", action="append", default=[], help="K:V, repeatable")
    parser.add_argument("--body-file", type=Path, help="JSON lines, one request body each (default: a 4-column row)")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    bodies = ([line.encode() for line in args.body_file.read_text().splitlines() if line.strip()] if args.body_file
              else [b'{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[0.1, 0.2, 0.3, 0.4]]}}'])
    headers = dict(h.split(":", 1) for h in args.header)
    stats = LoadGenerator(args.url, rate=args.rate, bodies=bodies, headers={k.strip(): v.strip() for k, v in headers.items()},
                          connections=args.connections, duration=args.duration).start().wait()
    print(json.dumps({"sent": stats.sent, "ok": stats.ok, "failed": stats.failed, "rate": round(stats.rate, 1),
                      "p50_ms": round(stats.percentile(50), 2), "p99_ms": round(stats.percentile(99), 2),
                      "by_version": dict(stats.by_version), "failures": dict(stats.failures)}))
    sys.exit(1 if stats.failed else 0)


if __name__ == "__main__":
    main()
