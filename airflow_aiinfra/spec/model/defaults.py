"""``defaults``: task and pod settings every stage inherits unless it says otherwise."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from airflow_aiinfra.spec.model.pod import GpuVendor, SecurityContext
from airflow_aiinfra.spec.types import ConnId, Duration, K8sObjectName, LabelMap, Namespace, Strict


class Defaults(Strict):
    """Applied to every stage unless the stage says otherwise."""

    retries: int = Field(2, ge=0, le=20)
    retry_delay: Duration = "1m"
    retry_exponential_backoff: bool = True
    max_retry_delay: Duration = "30m"
    execution_timeout: Duration | None = "6h"
    namespace: Namespace = "default"
    service_account: K8sObjectName | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[K8sObjectName] = Field(default_factory=list)
    labels: LabelMap = Field(default_factory=dict)
    kubernetes_conn_id: ConnId = "kubernetes_default"
    startup_timeout: Duration = "10m"
    gpu_vendor: GpuVendor = "nvidia"
    gpu_pool: str = Field("aiinfra_gpu", min_length=1, max_length=256,
                          description="Airflow pool GPU stages draw slots from.")
    gpu_pool_slots: int | None = Field(
        None, ge=1, le=1_000_000, description="GPUs the cluster has; `aiinfra pools` creates the pool with this many slots."
    )
    gpu_node_selector: LabelMap = Field(default_factory=dict)
    security_context: SecurityContext = Field(default_factory=SecurityContext)

    def pool_slots(self, pool: str | None) -> int | None:
        """Slots this spec declares for ``pool``. ``gpu_pool_slots`` sizes ``gpu_pool`` only: any other pool
        is sized in Airflow by its admins, and ``aiinfra pools`` checks it there. The one rule used by the
        spec check and by ``aiinfra pools``."""
        return self.gpu_pool_slots if pool is not None and pool == self.gpu_pool else None
