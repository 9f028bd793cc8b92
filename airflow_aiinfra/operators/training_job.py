"""Run a distributed training stage on a cluster: create its TrainJob / PyTorchJob and follow it.

Retries belong to Airflow, so the job's name is deterministic per DAG run and task, never
per try (kube.naming.job_name). A new try first looks for the job: one still running is
followed, not duplicated; a succeeded one is accepted; a failed one is deleted and created
again. Waiting is deferrable (triggers.training_job) or, with ``deferrable=False``, a poll
loop in ``execute`` that also streams rank 0's log. At the end the task log gets rank 0's log,
the failing rank's log and the failure reason, and ``on_finish_action`` deletes the job the
way the KubernetesPodOperator deletes its pod.
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from airflow.sdk import BaseOperator

from airflow_aiinfra.kube.jobs import JOB_KINDS, JobKind
from airflow_aiinfra.kube.naming import job_name, run_labels
from airflow_aiinfra.kube.verdict import job_verdict, log_pods

OnFinishAction = Literal["delete_job", "delete_succeeded_job", "keep_job"]
ON_FINISH_ACTIONS: tuple[str, ...] = ("delete_job", "delete_succeeded_job", "keep_job")


def _map_index(ti: Any) -> int:
    index = getattr(ti, "map_index", None)
    return -1 if index is None else int(index)


def kind_of(body: dict[str, Any]) -> JobKind:
    """The JobKind of a rendered job body, from its apiVersion and kind."""
    key = (body.get("apiVersion"), body.get("kind"))
    for kind in JOB_KINDS.values():
        if (kind.api_version, kind.kind) == key:
            return kind
    known = ", ".join(f"{k.kind} {k.api_version}" for k in JOB_KINDS.values())
    raise ValueError(f"job body is {key[1]!r} {key[0]!r}, which this operator does not run: use one of {known}")


class TrainingJobOperator(BaseOperator):
    """Create (or find) a Kubeflow TrainJob / PyTorchJob from ``body`` and wait for it to end.

    :param body: the job as kube.jobs.build_trainjob / build_pytorchjob render it (templated).
    :param name: object name; default the deterministic ``job_name(dag, task, run, map_index)``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between reads of the job's status.
    :param on_finish_action: ``delete_job`` (default), ``delete_succeeded_job`` or ``keep_job``.
    :param log_tail_lines: lines of each selected rank's log copied into the task log at the end.
    :param job_timeout: fail (and clean up) if the job has not finished this long after the wait starts.
    """

    template_fields = ("body", "name", "namespace")
    template_fields_renderers = {"body": "json"}
    ui_color = "#e3f2e1"

    def __init__(
        self,
        *,
        body: dict[str, Any],
        name: str | None = None,
        namespace: str | None = None,
        kubernetes_conn_id: str = "kubernetes_default",
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
        deferrable: bool = False,
        poll_interval: float = 30.0,
        on_finish_action: OnFinishAction = "delete_job",
        log_tail_lines: int = 200,
        job_timeout: timedelta | None = None,
        delete_wait_seconds: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_finish_action not in ON_FINISH_ACTIONS:
            raise ValueError(f"on_finish_action {on_finish_action!r}: use one of {', '.join(ON_FINISH_ACTIONS)}")
        kind_of(body)  # fail at parse time on a body this operator cannot run
        self.body = body
        self.name = name
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.in_cluster = in_cluster
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.on_finish_action = on_finish_action
        self.log_tail_lines = log_tail_lines
        self.job_timeout = job_timeout
        self.delete_wait_seconds = delete_wait_seconds

    # -- clients (never built at parse time) --------------------------------------------------
    @cached_property
    def hook(self) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.kubernetes_conn_id, config_file=self.config_file,
                              cluster_context=self.cluster_context, in_cluster=self.in_cluster)

    @property
    def kind(self) -> JobKind:
        return kind_of(self.body)

    @cached_property
    def job_namespace(self) -> str:
        return self.namespace or self.body.get("metadata", {}).get("namespace") or "default"

    @cached_property
    def client(self) -> Any:
        from airflow_aiinfra.hooks.kube_jobs import KubeJobClient

        return KubeJobClient(self.hook, self.kind, self.job_namespace)

    def job_name_for(self, context: Any) -> str:
        if self.name:
            return self.name
        ti = context["ti"]
        return job_name(ti.dag_id, ti.task_id, context["run_id"], _map_index(ti))

    # -- execute --------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        name = self._job_name = self.job_name_for(context)
        self._ensure_job(name, context)
        deadline = time.time() + self.job_timeout.total_seconds() if self.job_timeout else None
        if self.deferrable:
            from airflow_aiinfra.triggers.training_job import TrainingJobTrigger

            kind = self.kind
            self.defer(
                trigger=TrainingJobTrigger(
                    name=name, namespace=self.job_namespace, group=kind.group, version=kind.version,
                    plural=kind.plural, kubernetes_conn_id=self.kubernetes_conn_id, config_file=self.config_file,
                    cluster_context=self.cluster_context, in_cluster=self.in_cluster,
                    poll_interval=self.poll_interval, deadline=deadline),
                method_name="execute_complete",
            )
        return self._finish(self._poll_until_done(name, deadline))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return self._finish(event)

    def _ensure_job(self, name: str, context: Any) -> None:
        """Create the job unless this DAG run's task already has one that is running or succeeded."""
        from airflow_aiinfra.hooks.kube_jobs import AlreadyExists

        what = f"{self.kind.kind} {self.job_namespace}/{name}"
        existing = self.client.get(name)
        if existing is not None:
            state, reason = job_verdict(existing)
            if state == "running":
                self.log.info("%s exists (created by an earlier try) and is running (%s): following it", what, reason)
                return
            if state == "succeeded":
                self.log.info("%s already succeeded in an earlier try (%s): not running it again", what, reason)
                return
            self.log.warning("%s failed in an earlier try (%s): deleting it to run it again", what, reason)
            self.client.delete(name, wait_seconds=self.delete_wait_seconds)
        body = self._render_body(name, context)
        try:
            created = self.client.create(body)
            self.log.info("created %s (uid %s)", what, created.get("metadata", {}).get("uid"))
        except AlreadyExists:
            self.log.info("%s was created concurrently: following it", what)

    def _render_body(self, name: str, context: Any) -> dict[str, Any]:
        body = copy.deepcopy(self.body)
        meta = body.setdefault("metadata", {})
        meta["name"] = name
        meta["namespace"] = self.job_namespace
        ti = context["ti"]
        meta["labels"] = {**(meta.get("labels") or {}),
                          **run_labels(ti.dag_id, ti.task_id, context["run_id"], _map_index(ti))}
        return body

    def _poll_until_done(self, name: str, deadline: float | None) -> dict[str, Any]:
        """The non-deferrable wait: the same events as the trigger, plus rank 0's log as it grows."""
        from airflow_aiinfra.errors import KubeTransientError

        errors = 0
        shown: dict[str, int] = {}
        while True:
            try:
                obj = self.client.get(name)
                errors = 0
            except KubeTransientError as exc:
                errors += 1
                if errors > 5:
                    return {"status": "error", "name": name, "namespace": self.job_namespace, "reason": str(exc)}
                self.log.warning("%s (%d/5), retrying", exc, errors)
                obj = {}
            if obj is None:
                return {"status": "error", "name": name, "namespace": self.job_namespace,
                        "reason": f"{self.kind.kind} {name} no longer exists (deleted while waiting)"}
            if obj:
                state, reason = job_verdict(obj)
                if state != "running":
                    return {"status": state, "name": name, "namespace": self.job_namespace, "reason": reason,
                            "_shown": shown}
                self._stream_rank0(name, shown)
            if deadline is not None and time.time() >= deadline:
                return {"status": "timeout", "name": name, "namespace": self.job_namespace,
                        "reason": f"{self.kind.kind} {name} did not finish before its deadline"}
            time.sleep(self.poll_interval)

    def _stream_rank0(self, name: str, shown: dict[str, int]) -> None:
        try:
            pods = log_pods(self.kind, self.client.pods(name))
            if pods:
                pod = pods[0][0]
                lines = self.client.log(pod.name).splitlines()
                for line in lines[shown.get(pod.name, 0):]:
                    self.log.info("[%s] %s", pod.name, line)
                shown[pod.name] = len(lines)
        except Exception as exc:  # progress logs are best effort; the final fetch reports errors
            self.log.debug("could not stream rank 0's log yet: %s", exc)

    # -- the end ----------------------------------------------------------------------------------
    def _finish(self, event: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException

        name, status, reason = event["name"], event["status"], event.get("reason", "")
        what = f"{self.kind.kind} {self.job_namespace}/{name}"
        try:
            self._fetch_logs(name, event.get("_shown") or {})
        finally:
            self._cleanup(name, succeeded=status == "succeeded")
        if status != "succeeded":
            raise AirflowException(f"{what} {status}: {reason}")
        self.log.info("%s succeeded: %s", what, reason)
        return {"name": name, "namespace": self.job_namespace, "reason": reason}

    def _fetch_logs(self, name: str, shown: dict[str, int]) -> None:
        try:
            selected = log_pods(self.kind, self.client.pods(name))
        except Exception as exc:
            self.log.warning("could not list the pods of %s to fetch their logs: %s", name, exc)
            return
        if not selected:
            self.log.warning("no pods of %s found to fetch logs from (label %s=%s)", name, self.kind.pod_job_label, name)
        for pod, why in selected:
            try:
                if pod.name in shown:  # streamed while polling: only what came after, at most the tail
                    lines = self.client.log(pod.name).splitlines()[shown[pod.name]:][-self.log_tail_lines:]
                else:
                    lines = self.client.log(pod.name, tail_lines=self.log_tail_lines).splitlines()
            except Exception as exc:
                self.log.warning("could not read the log of pod %s (%s): %s", pod.name, why, exc)
                continue
            self.log.info("----- log of pod %s (%s, phase %s, last %d lines) -----", pod.name, why, pod.phase,
                          self.log_tail_lines)
            for line in lines:
                self.log.info("[%s] %s", pod.name, line)

    def _cleanup(self, name: str, *, succeeded: bool) -> None:
        if self.on_finish_action == "keep_job" or (self.on_finish_action == "delete_succeeded_job" and not succeeded):
            self.log.info("keeping %s %s (on_finish_action=%s)", self.kind.kind, name, self.on_finish_action)
            return
        try:
            self.client.delete(name, wait_seconds=self.delete_wait_seconds)
            self.log.info("deleted %s %s (on_finish_action=%s)", self.kind.kind, name, self.on_finish_action)
        except Exception as exc:
            self.log.warning("could not delete %s %s: %s", self.kind.kind, name, exc)

    def on_kill(self) -> None:
        """A killed task takes its job with it, unless told to keep jobs (as KPO does with its pod)."""
        name = getattr(self, "_job_name", None)
        if name and self.on_finish_action != "keep_job":
            self._cleanup(name, succeeded=False)
