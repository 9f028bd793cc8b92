"""``defaults``: task and pod settings every stage inherits unless it says otherwise."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from airflow_aiinfra.spec.model.pod import GpuVendor, SecurityContext
from airflow_aiinfra.spec.types import Duration, Strict


class Defaults(Strict):
    """Applied to every stage unless the stage says otherwise."""

    retries: int = Field(2, ge=0, le=20)
    retry_delay: Duration = "1m"
    retry_exponential_backoff: bool = True
    max_retry_delay: Duration = "30m"
    execution_timeout: Duration | None = "6h"
    namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    service_account: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    kubernetes_conn_id: str = "kubernetes_default"
    startup_timeout: Duration = "10m"
    gpu_vendor: GpuVendor = "nvidia"
    gpu_pool: str = Field("aiinfra_gpu", description="Airflow pool GPU stages draw slots from.")
    gpu_pool_slots: int | None = Field(
        None, ge=1, description="GPUs the cluster has; `aiinfra pools` creates the pool with this many slots."
    )
    gpu_node_selector: dict[str, str] = Field(default_factory=dict)
    security_context: SecurityContext = Field(default_factory=SecurityContext)

    def pool_slots(self, pool: str | None) -> int | None:
        """Slots this spec declares for ``pool``. ``gpu_pool_slots`` sizes ``gpu_pool`` only: any other pool
        is sized in Airflow by its admins, and ``aiinfra pools`` checks it there. The one rule used by the
        spec check and by ``aiinfra pools``."""
        return self.gpu_pool_slots if pool is not None and pool == self.gpu_pool else None
