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
from typing import TypeVar

from airflow_aiinfra.errors import KubeTransientError
from airflow_aiinfra.hooks.kube_jobs import CustomObjectClient
from airflow_aiinfra.kube.serving_objects import CustomKind

T = TypeVar("T")


class CustomObjects(CustomObjectClient):
    """Objects of ``kind`` in ``namespace``, through the Airflow connection ``conn_id``."""

    def __init__(self, conn_id: str, namespace: str, kind: CustomKind) -> None:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        super().__init__(KubernetesHook(conn_id=conn_id), kind, namespace)
        self.conn_id = conn_id


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
