"""The KServe router: one InferenceService's canary rollout (Serverless mode, ``canaryTrafficPercent``).

KServe keeps the last revision rolled out at 100 % (stable) and splits traffic with the revision rolling
out (the canary: the latest revision, serving the predictor's ``storageUri``) by the predictor's
``canaryTrafficPercent``. So:

- ``deploy_canary``: patch the new ``storageUri`` with ``canaryTrafficPercent: 0`` and wait until the new
  revision is ready (it gets no traffic while it starts), then patch the weight;
- ``set_canary_weight``: patch ``canaryTrafficPercent``; ``rollback``: set it to 0 (all traffic back to the
  last rolled-out revision; the canary revision stays, idle);
- ``promote``: remove ``canaryTrafficPercent`` (merge-patch ``null``), so the latest revision takes 100 %
  and becomes the rolled-out one; ``initial_deploy`` creates the InferenceService (or patches it) likewise.

Every method reads the object first and patches only what differs, then waits (``ready_timeout_seconds``)
until ``status.components.predictor.traffic`` shows the wanted split, and returns the split read from that
status. ``model_uri`` must already be an artifact URI the storage initializer can read (s3://, gs://, ...):
the caller resolves ``models:/`` from the registry. KServe has no header routing: header rules are refused
by the spec layer (:func:`airflow_aiinfra.serving.mesh_routes.kserve_expressible`), and the split reports
``header_routes_to_canary=False``.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from airflow_aiinfra.errors import KubePermanentError, KubeTransientError, RouterPermanentError
from airflow_aiinfra.kube import serving_objects as so
from airflow_aiinfra.rollout.routers._kube import CustomObjects, wait_for
from airflow_aiinfra.rollout.traffic import SlotState, Split

log = logging.getLogger(__name__)


class KServeRouter:
    def __init__(self, *, inference_service: str, kubernetes_conn_id: str = "kubernetes_default",
                 namespace: str = "default", model_format: str = "mlflow", service_account: str | None = None,
                 ready_timeout_seconds: int = 600, poll_seconds: float = 2.0) -> None:
        self.name = inference_service
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.model_format = model_format
        self.service_account = service_account
        self.ready_timeout_seconds = ready_timeout_seconds
        self.poll_seconds = poll_seconds

    @cached_property
    def objects(self) -> CustomObjects:
        return CustomObjects(self.kubernetes_conn_id, self.namespace, so.INFERENCE_SERVICE)

    def describe(self) -> str:
        return f"kserve InferenceService {self.namespace}/{self.name} (connection {self.kubernetes_conn_id})"

    # -- reading -------------------------------------------------------------------------------------------
    def _get(self) -> dict[str, Any]:
        obj = self.objects.get(self.name)
        if obj is None:
            raise KubePermanentError(
                f"{self.describe()} does not exist: a first deploy (no champion yet) creates it; otherwise check "
                "model_serving.rollout.router.inference_service and namespace")
        return obj

    def _state(self) -> so.KServeState:
        st = so.kserve_state(self._get())
        if st.deployment_mode not in (None, "Serverless"):
            raise RouterPermanentError(
                f"{self.describe()} runs in {st.deployment_mode} mode, where KServe ignores canaryTrafficPercent "
                "(the canary rollout is Serverless/Knative only): deploy it in Serverless mode, or use the istio "
                "router with one Deployment per slot")
        return st

    def _split(self, st: so.KServeState) -> Split:
        if st.latest_percent is None:
            raise KubeTransientError(f"{self.describe()} reports no traffic yet (status.components.predictor."
                                     "traffic is empty): KServe has not reconciled it; retry")
        if not st.previous_listed:  # the latest revision is the rolled-out one (a canary at 100 % lists prev at 0)
            return Split(SlotState(100, st.stable_version), SlotState(0, st.canary_version), False)
        return Split(SlotState(100 - st.latest_percent, st.stable_version),
                     SlotState(st.latest_percent, st.canary_version), False)

    def read(self) -> Split:
        return self._split(self._state())

    def _wait(self, done: Any, what: str) -> Split:
        st = wait_for(self._state, done, timeout=self.ready_timeout_seconds, poll=self.poll_seconds,
                      what=f"{self.describe()}: {what}", shown=_shown)
        return self._split(st)

    def _wait_weight(self, weight: int, *, ready: bool = True) -> Split:
        def done(st: so.KServeState) -> bool:
            return (st.observed and (st.latest_ready or not ready) and (st.latest_percent or 0) == weight
                    and st.previous_percent == 100 - weight)

        return self._wait(done, f"canary revision at {weight} %")

    def _wait_rolled_out(self) -> Split:
        def done(st: so.KServeState) -> bool:
            return st.observed and st.latest_ready and st.latest_percent == 100 and st.previous_percent == 0

        return self._wait(done, "latest revision at 100 %")

    # -- changing ------------------------------------------------------------------------------------------
    def _patch(self, body: dict[str, Any], why: str) -> None:
        log.info("%s: %s", self.describe(), why)
        self.objects.patch(self.name, body)

    def _model_args(self, model_uri: str, version: str) -> dict[str, Any]:
        if model_uri.startswith("models:/"):
            raise RouterPermanentError(f"{self.describe()}: KServe cannot read {model_uri!r}; the rollout passes "
                                       "the version's artifact URI resolved from the registry (s3://, gs://, ...)")
        return {"model_format": self.model_format, "storage_uri": model_uri, "version": version,
                "service_account": self.service_account}

    def initial_deploy(self, model_uri: str, version: str) -> Split:
        obj = self.objects.get(self.name)
        if obj is None:
            log.info("%s: initial deploy of %s (creating it)", self.describe(), version)
            self.objects.create(so.inference_service(name=self.name, namespace=self.namespace,
                                                     **self._model_args(model_uri, version)))
        else:
            st = so.kserve_state(obj)
            if not (st.stable_version == version and st.storage_uri == model_uri and st.desired_percent is None):
                self._patch(so.kserve_initial_patch(**self._model_args(model_uri, version)),
                            f"initial deploy of {version}")
        return self._wait_rolled_out()

    def deploy_canary(self, model_uri: str, version: str, weight: int) -> Split:
        st = self._state()
        if not (st.canary_version == version and st.storage_uri == model_uri and st.desired_percent is not None):
            self._patch(so.kserve_canary_patch(**self._model_args(model_uri, version)),
                        f"new revision serving {version} at 0 % while it starts")
            self._wait_weight(0)
        return self.set_canary_weight(weight)

    def set_canary_weight(self, weight: int) -> Split:
        st = self._state()
        if st.canary_version is None and st.desired_percent is None:
            raise RouterPermanentError(f"{self.describe()} has no canary revision to give {weight} % to: "
                                       "deploy_canary first")
        if st.desired_percent != weight:
            self._patch(so.kserve_weight_patch(weight), f"canary {st.desired_percent} % -> {weight} %")
        return self._wait_weight(weight, ready=weight > 0)

    def promote(self, model_uri: str, version: str) -> Split:
        st = self._state()
        if st.storage_uri != model_uri:  # not the canary's model: it rolls out directly (Knative waits until ready)
            self._patch(so.kserve_initial_patch(**self._model_args(model_uri, version)), f"promote {version}")
        elif st.desired_percent is not None or st.stable_version != version or st.canary_version is not None:
            self._patch(so.kserve_promote_patch(version), f"promote {version}: the canary revision takes 100 %")
        return self._wait_rolled_out()

    def rollback(self) -> Split:
        st = self._state()
        if st.desired_percent is None and st.canary_version is None:
            log.info("%s: nothing to roll back (no canary revision)", self.describe())
            return self._split(st)
        if st.desired_percent != 0:
            self._patch(so.kserve_weight_patch(0), "rollback: all traffic to the last rolled-out revision")
        return self._wait_weight(0, ready=False)


def _shown(st: so.KServeState) -> str:
    return (f"latest revision {st.latest_revision or '?'} at {st.latest_percent}%, older revisions at "
            f"{st.previous_percent}%, latest ready={st.latest_ready}, observed={st.observed}")
