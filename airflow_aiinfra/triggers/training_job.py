"""Wait for a TrainJob / PyTorchJob to finish without holding a worker slot.

The trigger polls the job's conditions through the provider's AsyncKubernetesHook; the
decision is kube.verdict.job_verdict, a pure function tests call directly. Every exit yields
one TriggerEvent ``{"status": "succeeded" | "failed" | "timeout" | "error", "name", "namespace",
"reason"}``: the operator's ``execute_complete`` never has to guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_aiinfra.kube.verdict import job_verdict

# Consecutive transient API errors tolerated before the wait gives up (the next try resumes it).
MAX_TRANSIENT_ERRORS = 5
_TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})


class TrainingJobTrigger(BaseTrigger):
    """Poll ``group/version/plural`` object ``name`` in ``namespace`` every ``poll_interval`` s until it ends.

    ``deadline`` is an absolute epoch time (not a duration) so a trigger re-created after a
    triggerer restart keeps the original deadline."""

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        group: str,
        version: str,
        plural: str,
        kubernetes_conn_id: str = "kubernetes_default",
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.namespace = namespace
        self.group = group
        self.version = version
        self.plural = plural
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.in_cluster = in_cluster
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "name": self.name,
                "namespace": self.namespace,
                "group": self.group,
                "version": self.version,
                "plural": self.plural,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "config_file": self.config_file,
                "cluster_context": self.cluster_context,
                "in_cluster": self.in_cluster,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    def _event(self, status: str, reason: str) -> TriggerEvent:
        return TriggerEvent({"status": status, "name": self.name, "namespace": self.namespace, "reason": reason})

    def _hook(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook

        return AsyncKubernetesHook(conn_id=self.kubernetes_conn_id, config_file=self.config_file,
                                   cluster_context=self.cluster_context, in_cluster=self.in_cluster)

    async def _get(self, hook: Any) -> dict[str, Any]:
        from kubernetes_asyncio.client import CustomObjectsApi

        async with hook.get_conn() as api_client:
            return await CustomObjectsApi(api_client).get_namespaced_custom_object(
                self.group, self.version, self.namespace, self.plural, self.name)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in self._poll():
                yield event
                return
        except Exception as exc:  # every exit is an event: the task fails with the cause, never hangs
            yield self._event("error", f"{type(exc).__name__}: {exc}")

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        from kubernetes_asyncio.client.exceptions import ApiException

        hook = self._hook()
        errors = 0
        what = f"{self.plural}.{self.group} {self.namespace}/{self.name}"
        while True:
            try:
                obj = await self._get(hook)
                errors = 0
            except ApiException as exc:
                if exc.status == 404:
                    yield self._event("error", f"{what} no longer exists (deleted while waiting)")
                    return
                errors += 1
                if exc.status not in _TRANSIENT or errors > MAX_TRANSIENT_ERRORS:
                    yield self._event("error", f"reading {what}: HTTP {exc.status} {exc.reason}")
                    return
                self.log.warning("reading %s: HTTP %s (%d/%d), retrying", what, exc.status, errors,
                                 MAX_TRANSIENT_ERRORS)
            else:
                state, reason = job_verdict(obj)
                if state != "running":
                    yield self._event(state, reason)
                    return
                self.log.info("%s is running (%s)", what, reason)
            if self.deadline is not None and time.time() >= self.deadline:
                yield self._event("timeout", f"{what} did not finish before its deadline")
                return
            await asyncio.sleep(self.poll_interval)
