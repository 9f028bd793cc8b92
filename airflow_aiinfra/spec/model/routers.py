"""``model_serving.rollout.router``: where traffic is split, one settings block per router type.

The block is a tagged union on ``type`` so a key of another router is a located error naming the right
type (``virtual_service`` under ``type: haproxy``). Slots are the spec's ``versions[]`` entries: the
``canary: true`` one serves the version this DAG run registered, the other ``@champion``.

Settings are plain names and connection ids; the runtime side (``airflow_aiinfra.rollout.routers``)
receives them as a flat mapping through the plan, never this model (workers do not import pydantic models).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from airflow_aiinfra.spec.types import ConnId, K8sLabelName, K8sObjectName, Namespace, Strict

# HAProxy server and backend names end up in runtime API commands and haproxy.cfg: a safe set only.
HaproxyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class HaproxyRouter(Strict):
    """HAProxy (the local and VM router): weights through the runtime API, no reload."""

    type: Literal["haproxy"] = "haproxy"
    conn_id: ConnId = Field("aiinfra_router", description="Connection whose host:port is HAProxy's runtime API.")
    backend: HaproxyName = Field("model_serving", description="The backend holding both slots' servers.")
    model_server_conn_id: ConnId = Field(
        "aiinfra_model_server",
        description="Connection holding the model servers' admin token (password); servers are found at "
        "the addresses HAProxy reports for the slot servers.",
    )


ModelFormat = Literal["mlflow", "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx"]


class KServeRouter(Strict):
    """KServe: the InferenceService's canary rollout (``canaryTrafficPercent``) on the predictor."""

    type: Literal["kserve"]
    kubernetes_conn_id: ConnId = "kubernetes_default"
    inference_service: K8sLabelName = Field(description="InferenceService name.")
    namespace: Namespace = "default"
    model_format: ModelFormat = Field("mlflow", description="Picks KServe's serving runtime.")
    service_account: K8sObjectName | None = Field(None, description="Reads the model artifacts (storage credentials).")
    ready_timeout_seconds: int = Field(
        600, ge=1, le=3600,
        description="How long a change may take to show in the router's real state (the new revision ready and the split in the InferenceService's status) before the "
        "task fails as retryable.",
    )


class IstioRouter(Strict):
    """Istio: a VirtualService (header route first, weighted route after) and a DestinationRule with one
    subset per slot; each subset's model server is loaded through its admin API."""

    type: Literal["istio"]
    kubernetes_conn_id: ConnId = "kubernetes_default"
    namespace: Namespace = "default"
    virtual_service: K8sObjectName
    destination_rule: K8sObjectName
    host: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")] = Field(
        description="The Kubernetes service host both subsets sit behind."
    )
    subset_label: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9_./]{0,61}[a-z0-9])?$")] = Field(
        "aiinfra.io/slot", description="Pod label telling the slots apart; subsets select on it."
    )
    model_server_conn_id: ConnId = "aiinfra_model_server"
    stable_url: Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$")] = Field(
        description="In-cluster URL of the stable subset's model server (admin API)."
    )
    canary_url: Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$")] = Field(
        description="In-cluster URL of the canary subset's model server (admin API)."
    )
    ready_timeout_seconds: int = Field(
        600, ge=1, le=3600,
        description="How long a change may take to show in the router's real state (a model server loading a version) before the "
        "task fails as retryable.",
    )


RouterSpec = Annotated[HaproxyRouter | KServeRouter | IstioRouter, Field(discriminator="type")]
