"""The Istio router: a VirtualService splits traffic between two subsets (one per slot) of one service.

The DestinationRule has a subset per slot, selecting pods on ``subset_label: stable|canary``; each slot's
pods run the package's model server (:mod:`airflow_aiinfra.serving`), loaded with a version through its
admin API (:class:`airflow_aiinfra.serving.client.ModelServerClient`, bearer token = the password of the
``model_server_conn_id`` connection, never logged) at ``stable_url`` / ``canary_url``. The VirtualService's
``spec.http`` is [header route → canary (or → stable when the canary is off), weighted route]; every change
reads the VirtualService, computes the whole ``spec.http`` (:func:`airflow_aiinfra.kube.serving_objects.istio_http`)
and merge-patches it only when it differs, so calling any method twice sends nothing the second time.

``header_conditions`` are the spec's routing conditions whose target is the canary slot (the plan fills
them from ``model_serving.routing_rules``; they are not keys of the router block). The real split is the
VirtualService as stored (Istio has no status of applied weights); the versions are what each slot's
model server reports serving.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_aiinfra.errors import KubePermanentError, RouterPermanentError
from airflow_aiinfra.hooks._connections import get_connection
from airflow_aiinfra.kube import serving_objects as so
from airflow_aiinfra.rollout.routers._kube import CustomObjects
from airflow_aiinfra.rollout.traffic import SlotName, SlotState, Split
from airflow_aiinfra.serving.client import ModelServerClient
from airflow_aiinfra.serving.mesh_routes import istio_match_blocks

log = logging.getLogger(__name__)


class IstioRouter:
    def __init__(self, *, virtual_service: str, destination_rule: str, host: str, stable_url: str,
                 canary_url: str, kubernetes_conn_id: str = "kubernetes_default", namespace: str = "default",
                 subset_label: str = "aiinfra.io/slot", model_server_conn_id: str = "aiinfra_model_server",
                 ready_timeout_seconds: int = 600, header_conditions: Sequence[str] = ()) -> None:
        self.virtual_service = virtual_service
        self.destination_rule = destination_rule
        self.host = host
        self.urls: dict[SlotName, str] = {"stable": stable_url, "canary": canary_url}
        self.kubernetes_conn_id = kubernetes_conn_id
        self.namespace = namespace
        self.subset_label = subset_label
        self.model_server_conn_id = model_server_conn_id
        self.ready_timeout_seconds = ready_timeout_seconds
        self.header_conditions = tuple(header_conditions)
        self.header_matches = [b for c in self.header_conditions for b in istio_match_blocks(c)]

    def describe(self) -> str:
        return (f"istio VirtualService {self.namespace}/{self.virtual_service} (host {self.host}, "
                f"connection {self.kubernetes_conn_id})")

    # -- clients -------------------------------------------------------------------------------------------
    @cached_property
    def services(self) -> CustomObjects:
        return CustomObjects(self.kubernetes_conn_id, self.namespace, so.VIRTUAL_SERVICE)

    @cached_property
    def rules(self) -> CustomObjects:
        return CustomObjects(self.kubernetes_conn_id, self.namespace, so.DESTINATION_RULE)

    @cached_property
    def _admin_token(self) -> str | None:
        conn = get_connection(self.model_server_conn_id, error=RouterPermanentError, conn_type="http",
                              example='{"conn_type": "http", "password": "<the model servers\' admin token>"}')
        return conn.password or None

    def server(self, slot: SlotName) -> ModelServerClient:
        return ModelServerClient(self.urls[slot], admin_token=self._admin_token,
                                 timeout=min(60.0, float(self.ready_timeout_seconds)))

    def _served(self, slot: SlotName) -> str | None:
        client = self.server(slot)
        try:
            return client.model().model_version
        finally:
            client.close()

    def _load(self, slot: SlotName, model_uri: str, version: str) -> None:
        client = self.server(slot)
        try:
            result = client.load(model_uri, timeout=float(self.ready_timeout_seconds))
        finally:
            client.close()
        served = result.model.model_version
        log.info("%s: %s slot %s %s", self.describe(), slot, "loaded" if result.changed else "already serves",
                 served)
        if served != version:
            raise RouterPermanentError(f"the {slot} model server at {self.urls[slot]} serves {served!r} after loading "
                                       f"{model_uri!r}, not {version!r}: check the model URI and version")

    # -- the VirtualService --------------------------------------------------------------------------------
    def _state(self) -> so.IstioState:
        obj = self.services.get(self.virtual_service)
        if obj is None:
            raise KubePermanentError(f"{self.describe()} does not exist: a first deploy (no champion yet) creates "
                                     "it; otherwise check router.virtual_service and namespace")
        st = so.istio_state(obj)
        if not st.managed:
            raise RouterPermanentError(f"{self.describe()} has no http route named {so.WEIGHTED_ROUTE!r}: it was "
                                       "not written by this router; apply the one `aiinfra render` shows")
        return st

    def _http(self, canary_weight: int, to_canary: bool) -> list[dict[str, Any]]:
        return so.istio_http(host=self.host, canary_weight=canary_weight, header_matches=self.header_matches,
                             header_to_canary=to_canary and bool(self.header_matches))

    def _route(self, canary_weight: int, to_canary: bool) -> so.IstioState:
        """Make the VirtualService route ``canary_weight`` % (and header matches if ``to_canary``) to the
        canary; patches only when the stored routes differ."""
        obj = self.services.get(self.virtual_service)
        want = self._http(canary_weight, to_canary)
        if obj is None:
            raise KubePermanentError(f"{self.describe()} does not exist: a first deploy (no champion yet) creates it")
        if (obj.get("spec") or {}).get("http") != want:
            log.info("%s: canary %d %%, header route to %s", self.describe(), canary_weight,
                     "canary" if to_canary and self.header_matches else "stable")
            obj = self.services.patch(self.virtual_service, so.virtual_service_patch(want))
        return so.istio_state(obj)

    def _split(self, st: so.IstioState) -> Split:
        return Split(SlotState(st.stable_weight, self._served("stable")),
                     SlotState(st.canary_weight, self._served("canary")), st.header_to_canary)

    # -- the Router protocol -------------------------------------------------------------------------------
    def read(self) -> Split:
        return self._split(self._state())

    def initial_deploy(self, model_uri: str, version: str) -> Split:
        log.info("%s: initial deploy of %s", self.describe(), version)
        self._load("stable", model_uri, version)
        rule = so.destination_rule(name=self.destination_rule, namespace=self.namespace, host=self.host,
                                   subset_label=self.subset_label)
        existing = self.rules.get(self.destination_rule)
        if existing is None:
            self.rules.create(rule)
        elif so.destination_rule_patch(existing) != so.destination_rule_patch(rule):
            self._refuse_foreign(existing, "subsets")
            self.rules.patch(self.destination_rule, so.destination_rule_patch(rule))
        service = self.services.get(self.virtual_service)
        if service is None:
            self.services.create(so.virtual_service(name=self.virtual_service, namespace=self.namespace,
                                                    host=self.host, header_matches=self.header_matches))
            return self.read()
        if not so.istio_state(service).managed:
            self._refuse_foreign(service, "http routes")
        return self._split(self._route(0, False))

    def _refuse_foreign(self, obj: dict[str, Any], what: str) -> None:
        """Replacing a list would drop what someone else put there: only objects this router created."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in so.MANAGED_BY.items()):
            raise RouterPermanentError(
                f"{obj.get('kind')} {self.namespace}/{obj['metadata']['name']} exists and was not created by this "
                f"router (no label {next(iter(so.MANAGED_BY))}={next(iter(so.MANAGED_BY.values()))}); replacing "
                f"its {what} would drop the ones there: point the router at a name of its own, or delete it")

    def deploy_canary(self, model_uri: str, version: str, weight: int) -> Split:
        st = self._state()
        if self._served("canary") != version:
            if st.canary_weight or st.header_to_canary:
                self._route(0, False)  # drain the slot before its model changes
            self._load("canary", model_uri, version)
        return self._split(self._route(weight, True))

    def set_canary_weight(self, weight: int) -> Split:
        st = self._state()
        return self._split(self._route(weight, st.header_to_canary or weight > 0))

    def promote(self, model_uri: str, version: str) -> Split:
        self._state()
        if self._served("stable") != version:
            self._load("canary", model_uri, version)  # a no-op when the canary already serves it
            self._route(100, True)  # everything on the canary while stable reloads
            self._load("stable", model_uri, version)
        return self._split(self._route(0, False))

    def rollback(self) -> Split:
        self._state()
        return self._split(self._route(0, False))
