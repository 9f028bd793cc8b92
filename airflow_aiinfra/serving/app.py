"""The slot's ASGI app: MLflow's scoring app for the current model, wrapped with metrics, a version header,
readiness, the admin API and the sampled request log. Imported only by the server process.

Routes (all JSON):

=====================  ================================================================================
``POST /invocations``  MLflow's scoring protocol, answered by the current model; ``X-Model-Version: name/N``
``GET /ping|/health``  MLflow's own liveness, via the current model (503 while the slot is empty)
``GET /ready``         200 ``{"slot", "model_version"}`` once a model is served, else 503
``GET /metrics``       Prometheus text format (:mod:`.metrics`)
``GET /admin/model``   what is served, what is loading, the last load error
``POST /admin/load``   ``{"model_uri": "models:/recsys/3", "wait": true, "force": false}``: 200 with
                       ``{"changed": bool, ...}`` when done (``changed`` false: that version was already
                       served), 202 when ``wait`` is false (poll ``/admin/model``), 409 while another load
                       runs, 4xx when the model cannot be loaded, 503 when the registry is unreachable
=====================  ================================================================================

When ``AIINFRA_SERVING_ADMIN_TOKEN`` is set, ``/admin/*`` needs ``Authorization: Bearer <token>``.
HAProxy refuses ``/admin`` and ``/metrics`` on the public frontend (:mod:`.haproxy_config`).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.types import Message, Receive, Scope, Send

from airflow_aiinfra.serving import names
from airflow_aiinfra.serving.config import ADMIN_TOKEN_ENV
from airflow_aiinfra.serving.metrics import SlotMetrics
from airflow_aiinfra.serving.request_log import RequestLog
from airflow_aiinfra.serving.slot import LoadError, ModelSlot


class ScoringDispatch:
    """ASGI app that hands each request to the model served when it arrives, and names that model in the
    ``X-Model-Version`` response header."""

    def __init__(self, slot: ModelSlot, request_log: RequestLog | None) -> None:
        self.slot = slot
        self.request_log = request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = self.slot.current
        if served is None:
            response = JSONResponse({"error": f"slot {self.slot.name!r} serves no model yet; POST /admin/load"}, 503)
            await response(scope, receive, send)
            return
        header = (names.VERSION_HEADER.lower().encode(), served.version.encode())
        log = self.request_log
        if log is None or scope.get("path") != names.SCORING_PATH or not log.sampled():
            async def send_with_header(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), header]
                await send(message)

            await served.app(scope, receive, send_with_header)
            return

        started, status, request_body, response_body = time.perf_counter(), 0, bytearray(), bytearray()

        async def receive_logged() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
                status = message["status"]
            elif message["type"] == "http.response.body":
                response_body.extend(message.get("body", b""))
            await send(message)

        await served.app(scope, receive_logged, send_logged)
        log.write(when=datetime.now(UTC), version=served.version, status=status,
                  latency_ms=(time.perf_counter() - started) * 1000, request=bytes(request_body),
                  response=bytes(response_body))


def _authorized(request: Request) -> bool:
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def build_app(
    slot: ModelSlot, metrics: SlotMetrics, request_log: RequestLog | None = None, *, threads: int = 16
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Predictions and loads run in threads (asyncio.to_thread); the default pool of 6 caps a model that
        # sleeps or waits on I/O at 6 requests in flight.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads, "predict"))
        yield
        if request_log is not None:
            request_log.close()

    app = FastAPI(title=f"aiinfra model server ({slot.name})", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    tasks: set[asyncio.Task[Any]] = set()

    def denied() -> JSONResponse:
        return JSONResponse({"error": f"admin API needs 'Authorization: Bearer <token>' ({ADMIN_TOKEN_ENV})"}, 401)

    @app.get("/ready")
    async def ready() -> JSONResponse:
        served = slot.current
        if served is None:
            return JSONResponse({"slot": slot.name, "ready": False, "reason": "no model loaded"}, 503)
        return JSONResponse({"slot": slot.name, "ready": True, "model_version": served.version})

    @app.get("/admin/model")
    async def model(request: Request) -> JSONResponse:
        if not _authorized(request):
            return denied()
        return JSONResponse(slot.status())

    @app.post("/admin/load")
    async def load(request: Request) -> JSONResponse:
        if not _authorized(request):
            return denied()
        try:
            body = await request.json()
            model_uri = body["model_uri"]
            if not isinstance(model_uri, str) or not model_uri.strip():
                raise ValueError("model_uri must be a non-empty string")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f'body must be {{"model_uri": "models:/NAME/VERSION"}}: {exc}'}, 400)
        wait, force = bool(body.get("wait", True)), bool(body.get("force", False))
        if not slot.begin(model_uri):
            return JSONResponse({"error": f"slot {slot.name!r} is already loading {slot.loading}", **slot.status()}, 409)

        async def run() -> JSONResponse:
            try:
                served, changed = await asyncio.to_thread(slot.load, model_uri, force=force)
            except LoadError as exc:
                metrics.loads.labels(slot.name, "failed").inc()
                return JSONResponse({"error": str(exc), **slot.status()}, exc.status)
            metrics.loads.labels(slot.name, "loaded" if changed else "unchanged").inc()
            return JSONResponse({"changed": changed, **slot.status()})

        if wait:
            return await run()
        task = asyncio.create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"accepted": True, **slot.status()}, 202)

    instrumentator = Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"],
                                    registry=metrics.registry)
    instrumentator.add(metrics.instrumentation()).instrument(app).expose(app, include_in_schema=False)
    app.mount("/", ScoringDispatch(slot, request_log))
    return app
