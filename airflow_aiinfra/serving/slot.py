"""What one slot serves, and how a new version replaces it with no failed request.

A load runs beside the traffic (in a worker thread): the registry resolves the URI to a concrete version
(an alias is resolved once, so the version served is the version named in the header), MLflow loads the
model, :func:`mlflow.pyfunc.scoring_server.init` builds MLflow's own scoring app for it, and only then is
:attr:`ModelSlot.current` replaced, a single reference assignment. A request takes the current app when
it starts and finishes on it, so in-flight requests complete on the old model and new ones go to the new
one. Then ``gc.freeze()`` moves everything loaded so far out of the collector's reach: with mlflow, pandas
and sklearn in memory a full collection pauses the process 140-160 ms, which is most of an untuned p99.
(Frozen garbage of a replaced model is never collected; a slot is reloaded a few times a day, not per request.)
"""

from __future__ import annotations

import gc
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MODELS_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_-]+))/?")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@+-]")


class LoadError(Exception):
    """A load failed; ``status`` is the HTTP status the admin API answers with (4xx: will not succeed on retry)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Served:
    model_uri: str  # what was asked for (may be an alias)
    resolved_uri: str  # what was loaded (a concrete version)
    version: str  # registered name/version, e.g. recsys/3: the X-Model-Version header and metric label
    loaded_at: float
    load_seconds: float
    app: Any  # MLflow's scoring app (FastAPI) for this model

    def describe(self) -> dict[str, Any]:
        return {"model_uri": self.model_uri, "resolved_uri": self.resolved_uri, "model_version": self.version,
                "loaded_at": self.loaded_at, "load_seconds": round(self.load_seconds, 3)}


def label_for(text: str) -> str:
    """A header- and label-safe version label."""
    return _UNSAFE.sub("_", text)[-128:] or "unknown"


def resolve(model_uri: str, client: Any | None) -> tuple[str, str]:
    """(version label, URI to load) for ``model_uri``: ``models:/name/3`` → ``name/3``; ``models:/name@alias``
    → the version the alias names now; anything else is labelled by its own (sanitized) text."""
    m = _MODELS_URI.fullmatch(model_uri)
    if not m:
        return label_for(model_uri), model_uri
    name = m["name"]
    if m["version"]:
        return label_for(f"{name}/{m['version']}"), model_uri
    version = client.get_model_version_by_alias(name, m["alias"]).version
    return label_for(f"{name}/{version}"), f"models:/{name}/{version}"


def _load_error(exc: Exception, model_uri: str) -> LoadError:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        status = exc.get_http_status_code()
        return LoadError(status, f"cannot load {model_uri!r}: {exc.message}")
    if isinstance(exc, ConnectionError | TimeoutError) or type(exc).__name__ in ("ConnectionError", "OperationalError"):
        return LoadError(503, f"cannot load {model_uri!r} now (registry or artifact store unreachable): {exc}")
    return LoadError(422, f"cannot load {model_uri!r}: {type(exc).__name__}: {exc}")


class ModelSlot:
    """The model one slot serves; :meth:`load` replaces it atomically (one load at a time)."""

    def __init__(self, name: str, *, on_swap: Callable[[Served | None, Served], None] | None = None) -> None:
        self.name = name
        self.current: Served | None = None
        self.loading: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.loads = 0
        self._lock = threading.Lock()
        self._on_swap = on_swap

    def status(self) -> dict[str, Any]:
        return {"slot": self.name, **(self.current.describe() if self.current else {"model_version": None}),
                "loading": self.loading, "last_error": self.last_error, "loads": self.loads}

    def begin(self, model_uri: str) -> bool:
        """Claim the slot for a load; False when another load is running."""
        if not self._lock.acquire(blocking=False):
            return False
        self.loading = {"model_uri": model_uri, "started_at": time.time()}
        return True

    def load(self, model_uri: str, *, force: bool = False) -> tuple[Served, bool]:
        """Load and swap (after :meth:`begin`); returns (what is served, whether it changed). Raises LoadError."""
        if not self._lock.locked():
            raise RuntimeError("ModelSlot.load() needs ModelSlot.begin() first (one load at a time)")
        try:
            import mlflow
            from mlflow.pyfunc import scoring_server

            started = time.perf_counter()
            try:
                version, resolved = resolve(model_uri, mlflow.MlflowClient())
                current = self.current
                if current is not None and current.version == version and not force:
                    self.last_error = None
                    return current, False
                model = mlflow.pyfunc.load_model(resolved)
                app = scoring_server.init(model)
            except LoadError:
                raise
            except Exception as exc:
                error = _load_error(exc, model_uri)
                self.last_error = str(error)
                raise error from exc
            served = Served(model_uri, resolved, version, time.time(), time.perf_counter() - started, app)
            previous, self.current = self.current, served
            self.loads += 1
            self.last_error = None
            if self._on_swap is not None:
                self._on_swap(previous, served)
            gc.freeze()
            return served, True
        finally:
            self.loading = None
            self._lock.release()
