"""The canary's Kubernetes objects and every patch sent to them: pure functions of plain arguments, no I/O.

Two routers live on Kubernetes (``airflow_aiinfra.rollout.routers.kserve`` / ``.istio`` send these bodies;
``aiinfra render`` shows them):

- **KServe**: one ``InferenceService`` (serving.kserve.io/v1beta1). Its predictor's
  ``canaryTrafficPercent`` splits traffic between the revision rolling out (the canary: the latest
  revision, serving ``storageUri``) and the last revision rolled out at 100 % (stable). This is KServe's
  Serverless (Knative) mode; the CRD also has the newer ``spec.canary[]`` (``{predictor, trafficPercent}``,
  reported in ``status.canaryStatuses``), which is not used here: see docs/rollout-kubernetes.md. The real
  split is read from ``status.components.predictor.traffic``; which *model version* each revision serves is
  not in the status, so the router records it in two annotations it owns (:data:`STABLE_VERSION`,
  :data:`CANARY_VERSION`) in the same patch that changes the revision.
- **Istio**: a ``VirtualService`` whose ``spec.http`` is [header route, weighted route] (the header route
  only when routing rules target the canary) and a ``DestinationRule`` with one subset per slot, selecting
  pods on ``subset_label: <slot>``. JSON merge patch replaces lists, so every weight change sends the whole
  ``spec.http``, computed by :func:`istio_http` (never a partial list).

Header matches are given here already translated (:data:`MatchBlock`); the translation from the spec's
routing grammar, which needs the spec's parser, is :mod:`airflow_aiinfra.serving.mesh_routes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
# One Istio HTTPMatchRequest: header (lowercase) → StringMatch ({"exact": v} or {"regex": r}), and the
# headers whose match excludes the request. Several blocks are ORed; inside one block, everything is ANDed.
MatchBlock = Mapping[str, Mapping[str, Mapping[str, str]]]


@dataclass(frozen=True)
class CustomKind:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


INFERENCE_SERVICE = CustomKind("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService")
VIRTUAL_SERVICE = CustomKind("networking.istio.io", "v1", "virtualservices", "VirtualService")
DESTINATION_RULE = CustomKind("networking.istio.io", "v1", "destinationrules", "DestinationRule")

MANAGED_BY = {"app.kubernetes.io/managed-by": "airflow-aiinfra"}
STABLE_VERSION = "aiinfra.io/stable-version"  # annotation: the model version the rolled-out revision serves
CANARY_VERSION = "aiinfra.io/canary-version"  # annotation: the version of the revision rolling out
HEADER_ROUTE = "aiinfra-header"  # names of the VirtualService's two http routes (how the router finds them)
WEIGHTED_ROUTE = "aiinfra-weighted"
SLOTS = ("stable", "canary")

# model_format → (KServe modelFormat.name, ClusterServingRuntime, protocolVersion). The runtime is named so
# KServe does not pick another one that also lists the format (sklearn/xgboost/lightgbm have KServe's own
# servers too); MLServer is what KServe runs MLflow models with and needs the v2 (Open Inference) protocol.
KSERVE_RUNTIMES: dict[str, tuple[str, str, str | None]] = {
    "mlflow": ("mlflow", "kserve-mlserver", "v2"),
    "sklearn": ("sklearn", "kserve-mlserver", "v2"),
    "xgboost": ("xgboost", "kserve-mlserver", "v2"),
    "lightgbm": ("lightgbm", "kserve-mlserver", "v2"),
    "tensorflow": ("tensorflow", "kserve-tensorflow-serving", None),
    "pytorch": ("pytorch", "kserve-torchserve", None),
    "onnx": ("onnx", "kserve-tritonserver", "v2"),
}


def _check_weight(weight: int) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise ValueError(f"canary weight {weight!r} must be an integer percent 0..100")
    return weight


# --- KServe ------------------------------------------------------------------------------------------------
def kserve_model(model_format: str, storage_uri: str) -> Obj:
    """The predictor's ``model`` block: format, the runtime serving it, and the resolved artifact URI
    (KServe's storage initializer reads s3://, gs://, pvc://, https://...; never ``models:/``)."""
    if model_format not in KSERVE_RUNTIMES:
        raise ValueError(f"model_format {model_format!r} is not one of {', '.join(KSERVE_RUNTIMES)}")
    if storage_uri.startswith("models:/"):
        raise ValueError(f"KServe cannot read {storage_uri!r}: pass the version's artifact URI resolved from "
                         "the registry (e.g. s3://bucket/1/abc/artifacts/model)")
    name, runtime, protocol = KSERVE_RUNTIMES[model_format]
    model: Obj = {"modelFormat": {"name": name}, "runtime": runtime}
    if protocol:
        model["protocolVersion"] = protocol
    model["storageUri"] = storage_uri
    return model


def inference_service(*, name: str, namespace: str, model_format: str, storage_uri: str, version: str,
                      service_account: str | None = None) -> Obj:
    """The InferenceService of a first deploy: ``version`` at 100 %, no canary."""
    predictor: Obj = {"model": kserve_model(model_format, storage_uri)}
    if service_account:
        predictor["serviceAccountName"] = service_account
    return {
        "apiVersion": INFERENCE_SERVICE.api_version,
        "kind": INFERENCE_SERVICE.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY),
                     "annotations": {STABLE_VERSION: version}},
        "spec": {"predictor": predictor},
    }


def kserve_initial_patch(*, model_format: str, storage_uri: str, version: str,
                         service_account: str | None = None) -> Obj:
    """First deploy onto an InferenceService that already exists: the version rolls out at 100 %."""
    predictor: Obj = {"canaryTrafficPercent": None, "model": kserve_model(model_format, storage_uri)}
    if service_account:
        predictor["serviceAccountName"] = service_account
    return {"metadata": {"annotations": {STABLE_VERSION: version, CANARY_VERSION: None}},
            "spec": {"predictor": predictor}}


def kserve_canary_patch(*, model_format: str, storage_uri: str, version: str,
                        service_account: str | None = None) -> Obj:
    """A new revision serving ``version`` at 0 % (KServe keeps the rolled-out revision at 100 % while the
    new one starts); :func:`kserve_weight_patch` then gives it its weight."""
    predictor: Obj = {"canaryTrafficPercent": 0, "model": kserve_model(model_format, storage_uri)}
    if service_account:
        predictor["serviceAccountName"] = service_account
    return {"metadata": {"annotations": {CANARY_VERSION: version}}, "spec": {"predictor": predictor}}


def kserve_weight_patch(weight: int) -> Obj:
    """The canary revision's share; 0 is KServe's rollback (all traffic to the last rolled-out revision)."""
    return {"spec": {"predictor": {"canaryTrafficPercent": _check_weight(weight)}}}


def kserve_promote_patch(version: str) -> Obj:
    """Remove ``canaryTrafficPercent``: the latest revision takes 100 % and becomes the rolled-out one."""
    return {"metadata": {"annotations": {STABLE_VERSION: version, CANARY_VERSION: None}},
            "spec": {"predictor": {"canaryTrafficPercent": None}}}


@dataclass(frozen=True)
class KServeState:
    """What an InferenceService says: desired (spec) and real (status) split."""

    storage_uri: str | None
    desired_percent: int | None  # spec canaryTrafficPercent; None: the latest revision takes all
    stable_version: str | None
    canary_version: str | None
    latest_percent: int | None  # status: the latest revision's share; None when not reported yet
    previous_percent: int  # status: the share of every older revision (the rolled-out one)
    previous_listed: bool  # status lists an older revision (even at 0 %): a canary split is in place
    latest_revision: str | None
    latest_ready: bool  # latestReadyRevision == latestCreatedRevision
    observed: bool  # status.observedGeneration >= metadata.generation
    deployment_mode: str | None  # status.deploymentMode: Serverless, RawDeployment/Standard, ModelMesh


def kserve_state(obj: Mapping[str, Any]) -> KServeState:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    predictor = (obj.get("spec") or {}).get("predictor") or {}
    status = obj.get("status") or {}
    component = (status.get("components") or {}).get("predictor") or {}
    traffic = component.get("traffic") or []
    latest = [t for t in traffic if t.get("latestRevision")]
    older = [t for t in traffic if not t.get("latestRevision")]
    created = component.get("latestCreatedRevision")
    return KServeState(
        storage_uri=(predictor.get("model") or {}).get("storageUri"),
        desired_percent=predictor.get("canaryTrafficPercent"),
        stable_version=annotations.get(STABLE_VERSION),
        canary_version=annotations.get(CANARY_VERSION),
        latest_percent=sum(int(t.get("percent") or 0) for t in latest) if latest else None,
        previous_percent=sum(int(t.get("percent") or 0) for t in older),
        previous_listed=bool(older),
        latest_revision=latest[0].get("revisionName") if latest else None,
        latest_ready=bool(created) and component.get("latestReadyRevision") == created,
        observed=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0),
        deployment_mode=status.get("deploymentMode"),
    )


# --- Istio -------------------------------------------------------------------------------------------------
def destination_rule(*, name: str, namespace: str, host: str, subset_label: str) -> Obj:
    return {
        "apiVersion": DESTINATION_RULE.api_version,
        "kind": DESTINATION_RULE.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": {"host": host, "subsets": [{"name": slot, "labels": {subset_label: slot}} for slot in SLOTS]},
    }


def istio_http(*, host: str, canary_weight: int, header_matches: Sequence[MatchBlock],
               header_to_canary: bool) -> list[Obj]:
    """The VirtualService's whole ``spec.http``: the header route first (when there are header rules; to the
    canary subset, or to stable when the canary is off), then the weighted split over both subsets."""
    weight = _check_weight(canary_weight)
    http: list[Obj] = []
    if header_matches:
        subset = "canary" if header_to_canary else "stable"
        http.append({"name": HEADER_ROUTE, "match": [_match(b) for b in header_matches],
                     "route": [{"destination": {"host": host, "subset": subset}, "weight": 100}]})
    http.append({"name": WEIGHTED_ROUTE, "route": [
        {"destination": {"host": host, "subset": "stable"}, "weight": 100 - weight},
        {"destination": {"host": host, "subset": "canary"}, "weight": weight},
    ]})
    return http


def _match(block: MatchBlock) -> Obj:
    return {key: {h: dict(m) for h, m in value.items()} for key, value in block.items() if value}


def virtual_service(*, name: str, namespace: str, host: str, canary_weight: int = 0,
                    header_matches: Sequence[MatchBlock] = (), header_to_canary: bool = False) -> Obj:
    return {
        "apiVersion": VIRTUAL_SERVICE.api_version,
        "kind": VIRTUAL_SERVICE.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": {"hosts": [host], "http": istio_http(host=host, canary_weight=canary_weight,
                                                     header_matches=header_matches,
                                                     header_to_canary=header_to_canary)},
    }


def virtual_service_patch(http: list[Obj]) -> Obj:
    """JSON merge patch replacing ``spec.http`` whole (merge patch cannot patch one list item)."""
    return {"spec": {"http": http}}


def destination_rule_patch(rule: Obj) -> Obj:
    return {"spec": {"host": rule["spec"]["host"], "subsets": rule["spec"]["subsets"]}}


@dataclass(frozen=True)
class IstioState:
    canary_weight: int
    stable_weight: int
    header_to_canary: bool
    managed: bool  # the VirtualService has the router's weighted route (else it was written by someone else)


def istio_state(obj: Mapping[str, Any]) -> IstioState:
    """The split a VirtualService applies: weights of the weighted route by subset, and where the header
    route sends matching requests."""
    http = (obj.get("spec") or {}).get("http") or []
    weighted = next((r for r in http if r.get("name") == WEIGHTED_ROUTE), None)
    header = next((r for r in http if r.get("name") == HEADER_ROUTE), None)
    weights = {"stable": 0, "canary": 0}
    for dest in (weighted or {}).get("route") or []:
        subset = (dest.get("destination") or {}).get("subset")
        if subset in weights:
            # Istio: a lone destination without weight takes everything
            weights[subset] += int(dest.get("weight", 100 if len(weighted["route"]) == 1 else 0))
    to_canary = any((d.get("destination") or {}).get("subset") == "canary" and d.get("weight", 100) > 0
                    for d in (header or {}).get("route") or [])
    return IstioState(weights["canary"], weights["stable"], to_canary, weighted is not None)
