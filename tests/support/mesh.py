"""Stand-ins for what the KServe and Istio routers talk to besides the Kubernetes API itself.

- :func:`kserve_controller`: an ``on_read`` script for :class:`tests.support.k8s_api.FakeKubeAPI` that plays
  KServe's controller in Serverless mode: each change of the predictor (other than ``canaryTrafficPercent``)
  is a new revision; ``canaryTrafficPercent`` splits traffic between the last revision rolled out at 100 %
  and the latest one; without it the latest takes 100 % and becomes the rolled-out one. ``lag`` reads pass
  after a spec change before the status catches up (the controller is slow), so waiting is exercised.
- :class:`FakeModelServer`: the model server's admin API (``GET /admin/model``, ``POST /admin/load``, bearer
  token) over real HTTP, recording every request; it labels ``models:/name/N`` as ``name/N`` like the real
  slot (airflow_aiinfra.serving.slot.resolve). The real server needs MLflow and a registry (seconds per
  start); its API is tested in tests/serving.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.k8s_api import OnRead, free_port


def kserve_controller(lag: int = 0) -> OnRead:
    revisions: list[tuple[str, str]] = []  # (revision name, predictor without the traffic percent)
    state: dict[str, Any] = {"rolled": None, "generation": None, "since": 0}

    def on_read(obj: dict[str, Any], reads: int) -> dict[str, Any] | None:
        generation = obj["metadata"].get("generation", 1)
        if generation != state["generation"]:
            state["generation"], state["since"] = generation, 0
        state["since"] += 1
        if state["since"] <= lag:
            return None
        predictor = dict(obj["spec"]["predictor"])
        percent = predictor.pop("canaryTrafficPercent", None)
        key = json.dumps(predictor, sort_keys=True)
        if not revisions or revisions[-1][1] != key:
            revisions.append((f"{obj['metadata']['name']}-predictor-{len(revisions) + 1:05d}", key))
        latest = revisions[-1][0]
        if percent is None or state["rolled"] is None:
            state["rolled"] = latest
        rolled = state["rolled"]
        if rolled == latest:
            traffic = [{"revisionName": latest, "percent": 100, "latestRevision": True, "tag": "latest"}]
        else:
            traffic = [{"revisionName": rolled, "percent": 100 - percent, "latestRevision": False, "tag": "prev"},
                       {"revisionName": latest, "percent": percent, "latestRevision": True, "tag": "latest"}]
        return {
            "observedGeneration": generation,
            "conditions": [{"type": "Ready", "status": "True"}],
            "components": {"predictor": {"latestCreatedRevision": latest, "latestReadyRevision": latest,
                                         "latestRolledoutRevision": rolled, "traffic": traffic}},
        }

    return on_read


def kserve_status(traffic: list[tuple[str, int, bool]], generation: int = 1) -> dict[str, Any]:
    """A status with the given (revision, percent, latest) traffic entries, the latest one ready."""
    latest = next(name for name, _, is_latest in traffic if is_latest)
    return {
        "observedGeneration": generation,
        "components": {"predictor": {
            "latestCreatedRevision": latest, "latestReadyRevision": latest,
            "traffic": [{"revisionName": n, "percent": p, "latestRevision": is_latest,
                         "tag": "latest" if is_latest else "prev"} for n, p, is_latest in traffic],
        }},
    }


_MODELS = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")


@dataclass
class FakeModelServer:
    slot: str
    token: str
    model_uri: str | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, json body)
    unauthorized: int = 0

    def __post_init__(self) -> None:
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def version(self) -> str | None:
        if self.model_uri is None:
            return None
        m = _MODELS.fullmatch(self.model_uri)
        return f"{m['name']}/{m['version']}" if m else self.model_uri

    def status(self) -> dict[str, Any]:
        return {"slot": self.slot, "model_version": self.version, "model_uri": self.model_uri, "loading": None,
                "last_error": None}

    def loads(self) -> list[str]:
        return [body["model_uri"] for method, path, body in self.requests if path == "/admin/load"]


def _handler(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            server.requests.append((self.command, self.path, body))
            if self.headers.get("Authorization") != f"Bearer {server.token}":
                server.unauthorized += 1
                return self._answer(401, {"error": "admin token required"})
            if self.command == "GET" and self.path == "/admin/model":
                return self._answer(200, server.status())
            if self.command == "POST" and self.path == "/admin/load":
                changed = body["model_uri"] != server.model_uri
                server.model_uri = body["model_uri"]
                return self._answer(200, {"changed": changed, **server.status()})
            return self._answer(404, {"error": f"no {self.command} {self.path}"})

        do_GET = do_POST = _serve

    return Handler
