"""Get, create and merge-patch one kind of custom object through the provider's KubernetesHook.

Shared by the KServe and Istio routers, which both read an object, compute a body with
:mod:`airflow_aiinfra.kube.serving_objects` and send it. Errors are mapped by the same
:func:`airflow_aiinfra.hooks.kube_jobs.mapped_errors` the training jobs use (429/5xx/unreachable →
KubeTransientError, other 4xx → KubePermanentError). Calls go through ``hook.custom_object_client``
with no retry of their own: Airflow's task retries are the outer loop, and every router method reads
before it writes, so a retry continues from the real state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

from airflow_aiinfra.errors import KubeTransientError
from airflow_aiinfra.hooks.kube_jobs import mapped_errors
from airflow_aiinfra.kube.serving_objects import CustomKind

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"


class CustomObjects:
    """Objects of ``kind`` in ``namespace``, through the Airflow connection ``conn_id``."""

    def __init__(self, conn_id: str, namespace: str, kind: CustomKind) -> None:
        self.conn_id = conn_id
        self.namespace = namespace
        self.kind = kind

    @cached_property
    def hook(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.conn_id)

    @cached_property
    def _api(self) -> Any:
        with mapped_errors(f"connect to the Kubernetes API through connection {self.conn_id!r}"):
            return self.hook.custom_object_client

    def _args(self) -> dict[str, str]:
        return {"group": self.kind.group, "version": self.kind.version, "namespace": self.namespace,
                "plural": self.kind.plural}

    def get(self, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        from kubernetes.client.rest import ApiException

        with mapped_errors(f"get {self.kind.kind} {self.namespace}/{name}"):
            try:
                return self._api.get_namespaced_custom_object(name=name, **self._args())
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        with mapped_errors(f"create {self.kind.kind} {self.namespace}/{name}"):
            return self._api.create_namespaced_custom_object(body=body, **self._args())

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch (RFC 7386): maps merge, ``None`` deletes a key, lists are replaced whole."""
        with mapped_errors(f"patch {self.kind.kind} {self.namespace}/{name}"):
            return self._api.patch_namespaced_custom_object(name=name, body=body, _content_type=MERGE_PATCH,
                                                            **self._args())


def wait_for(read: Callable[[], T], done: Callable[[T], bool], *, timeout: float, poll: float,
             what: str, shown: Callable[[T], str]) -> T:
    """Poll ``read`` until ``done``; after ``timeout`` seconds a KubeTransientError naming ``what`` and the
    last state seen (the task's retry then reads again and continues)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise KubeTransientError(f"{what} not reached after {timeout:.0f}s; last seen: {shown(value)}. The "
                                     "controller may still be working (retry the task) or the new revision/pods "
                                     "fail to start (look at their events)")
        time.sleep(poll)
