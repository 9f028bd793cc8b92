"""The reference for benchmarks/serving.py: a FastAPI app that answers like a model server and does nothing,
so HAProxy + uvicorn + FastAPI alone set the ceiling the model servers are compared with."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
NAME = os.environ.get("TRIVIAL_NAME", "trivial")
BODY = b'{"predictions": [0]}'


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json", headers={"X-Model-Version": NAME})


@app.get("/ready")
async def ready() -> Response:
    return Response(b"{}", media_type="application/json")
