"""Client of a slot's admin API (:mod:`.app`), for the operators that deploy, promote and roll back.

Errors are mapped here: unreachable, timeouts, 5xx → :class:`ServingTransientError` (retry the task);
4xx (unknown version, bad URI, bad token) → :class:`ServingPermanentError`. A 409 (another load is running,
e.g. started by a task that was killed) is waited out, then the load is asked again, which is a no-op when
that other load already put the same version in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_aiinfra.errors import ServingPermanentError, ServingTransientError


@dataclass(frozen=True)
class ServedModel:
    slot: str
    model_version: str | None  # name/version, None while the slot is empty
    model_uri: str | None
    loading: bool
    last_error: str | None


@dataclass(frozen=True)
class LoadResult:
    changed: bool  # False: the slot already served that version
    model: ServedModel


def _served(body: dict[str, Any]) -> ServedModel:
    return ServedModel(body["slot"], body.get("model_version"), body.get("model_uri"), bool(body.get("loading")),
                       body.get("last_error"))


class ModelServerClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServingTransientError(
                f"model server {self.base_url} unreachable ({method} {path}): {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 500:
            raise ServingTransientError(f"model server {self.base_url} failed {method} {path}: "
                                        f"HTTP {response.status_code} {self._error(response)}")
        if response.status_code >= 400 and response.status_code != 409:
            raise ServingPermanentError(f"model server {self.base_url} refused {method} {path}: "
                                        f"HTTP {response.status_code} {self._error(response)}")
        return response

    @staticmethod
    def _error(response: httpx.Response) -> str:
        try:
            return str(response.json().get("error", response.text[:300]))
        except ValueError:
            return response.text[:300]

    def model(self) -> ServedModel:
        """What the slot serves now (``GET /admin/model``)."""
        return _served(self._call("GET", "/admin/model").json())

    def ready(self) -> bool:
        try:
            return self._client.get("/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def load(self, model_uri: str, *, force: bool = False, timeout: float = 300.0) -> LoadResult:
        """Make the slot serve ``model_uri`` (``models:/name/N`` or ``models:/name@alias``) and wait until it
        does; in-flight and new requests keep being answered during the swap."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._call("POST", "/admin/load", json={"model_uri": model_uri, "wait": True, "force": force},
                                  timeout=max(1.0, deadline - time.monotonic()))
            if response.status_code != 409:
                body = response.json()
                return LoadResult(bool(body["changed"]), _served(body))
            if time.monotonic() > deadline:
                raise ServingTransientError(
                    f"model server {self.base_url} was still loading another model after {timeout:.0f}s: "
                    f"{self._error(response)}"
                )
            time.sleep(0.5)
