"""One training job's API calls through the provider's KubernetesHook, with errors mapped once.

The hook owns the client and its connection; this adds what a job needs on top (get that
answers None for 404, create that reports a conflict, delete and wait until gone, the job's
pods and their logs) and maps ``ApiException`` into KubeTransientError / KubePermanentError.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_aiinfra.errors import KubePermanentError, KubeTransientError
from airflow_aiinfra.kube.jobs import JobKind
from airflow_aiinfra.kube.verdict import PodRef

TRANSIENT_CODES = frozenset({0, 429, 500, 502, 503, 504})


class AlreadyExists(Exception):
    """create() found an object of that name: someone (an earlier try) created it first."""


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """ApiException and connection errors → our transient/permanent pair, naming the call."""
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        detail = f"{what}: HTTP {exc.status} {exc.reason}: {(exc.body or '')[:500]}"
        if exc.status in TRANSIENT_CODES:
            raise KubeTransientError(detail) from exc
        raise KubePermanentError(detail) from exc
    except HTTPError as exc:
        raise KubeTransientError(f"{what}: the Kubernetes API is unreachable: {exc}") from exc


MERGE_PATCH = "application/merge-patch+json"


class CustomObjectClient:
    """Objects of one custom ``kind`` (group, version, plural, kind) in one ``namespace``, through ``hook`` (a
    KubernetesHook's client): get that answers None for 404, create that reports a conflict, merge-patch. No
    retries of its own (the hook's ``get_custom_object`` would retry 5xx for minutes): Airflow's task retries
    are the outer loop, and every caller reads before it writes."""

    def __init__(self, hook: Any, kind: Any, namespace: str) -> None:
        self.hook = hook
        self.kind = kind
        self.namespace = namespace

    def _args(self) -> dict[str, str]:
        return {"group": self.kind.group, "version": self.kind.version, "plural": self.kind.plural,
                "namespace": self.namespace}

    def get(self, name: str) -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        with mapped_errors(f"get {self.kind.kind} {self.namespace}/{name}"):
            try:
                return self.hook.custom_object_client.get_namespaced_custom_object(name=name, **self._args())
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from kubernetes.client.rest import ApiException

        name = body["metadata"]["name"]
        with mapped_errors(f"create {self.kind.kind} {self.namespace}/{name}"):
            try:
                return self.hook.custom_object_client.create_namespaced_custom_object(body=body, **self._args())
            except ApiException as exc:
                if exc.status == 409:
                    raise AlreadyExists(name) from exc
                raise

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch (RFC 7386): maps merge, ``None`` deletes a key, lists are replaced whole."""
        with mapped_errors(f"patch {self.kind.kind} {self.namespace}/{name}"):
            return self.hook.custom_object_client.patch_namespaced_custom_object(
                name=name, body=body, _content_type=MERGE_PATCH, **self._args())


class KubeJobClient(CustomObjectClient):
    """Calls for jobs of one ``kind`` (:class:`~airflow_aiinfra.kube.jobs.JobKind`): deletion that waits, the
    job's pods and their logs."""

    kind: JobKind

    def delete(self, name: str, *, wait_seconds: float = 60, poll: float = 1.0) -> bool:
        """Delete (foreground, so its pods go first) and wait until it is gone; False if it was not there."""
        from kubernetes.client.rest import ApiException

        with mapped_errors(f"delete {self.kind.kind} {self.namespace}/{name}"):
            try:
                self.hook.delete_custom_object(name=name, propagation_policy="Foreground", **self._args())
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        deadline = time.monotonic() + wait_seconds
        while self.get(name) is not None:
            if time.monotonic() > deadline:
                raise KubeTransientError(
                    f"{self.kind.kind} {self.namespace}/{name} still exists {wait_seconds:.0f}s after deletion "
                    "(a finalizer or a slow controller): retry the task, or delete it by hand")
            time.sleep(poll)
        return True

    def pods(self, name: str) -> list[PodRef]:
        with mapped_errors(f"list pods of {self.kind.kind} {self.namespace}/{name}"):
            pods = self.hook.core_v1_client.list_namespaced_pod(
                self.namespace, label_selector=f"{self.kind.pod_job_label}={name}").items
        return [PodRef(p.metadata.name, dict(p.metadata.labels or {}), (p.status.phase if p.status else "") or "")
                for p in pods]

    def log(self, pod: str, *, tail_lines: int | None = None) -> str:
        kwargs: dict[str, Any] = {"container": self.kind.container, "_preload_content": False}
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        with mapped_errors(f"read the log of pod {self.namespace}/{pod}"):
            resp = self.hook.core_v1_client.read_namespaced_pod_log(pod, self.namespace, **kwargs)
        return resp.data.decode("utf-8", errors="replace")
