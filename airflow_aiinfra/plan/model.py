"""What will be built, as plain data: tests and `aiinfra render` read it without Airflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow_aiinfra.contract import PAYLOAD_TYPES, Payload, TaskKind


@dataclass(frozen=True)
class SecretPlan:
    """A Kubernetes Secret reference: exposed as env (``env``) or mounted files (``mount_path``)."""

    secret: str
    key: str | None = None
    env: str | None = None
    mount_path: str | None = None


@dataclass(frozen=True)
class VolumePlan:
    name: str
    mount_path: str
    kind: str  # pvc | config_map | secret | empty_dir
    source: str | None = None
    read_only: bool = False
    sub_path: str | None = None
    medium: str = ""
    size_limit: str | None = None


@dataclass(frozen=True)
class PodPlan:
    """Everything a stage's pod needs, in Kubernetes terms but without Kubernetes objects."""

    image: str
    cmds: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    requests: dict[str, str]
    limits: dict[str, str]
    gpu: int = 0
    gpu_resource: str | None = None
    secrets: tuple[SecretPlan, ...] = ()
    volumes: tuple[VolumePlan, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] | None = None
    priority_class: str | None = None
    namespace: str = "default"
    service_account: str | None = None
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pod_security: dict[str, Any] = field(default_factory=dict)  # V1PodSecurityContext kwargs
    container_security: dict[str, Any] = field(default_factory=dict)  # V1SecurityContext kwargs
    kubernetes_conn_id: str = "kubernetes_default"
    startup_timeout: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class TaskPlan:
    """One Airflow task. ``kind`` selects the operator (wiring/builders.py), ``payload`` is its keyword
    arguments (airflow_aiinfra.contract); ``pod`` is set for tasks that run a stage's container."""

    task_id: str  # full id, "group.name"
    kind: TaskKind
    payload: Payload
    group: str | None = None
    upstream: tuple[str, ...] = ()
    retries: int = 0
    retry_delay: timedelta = timedelta(minutes=1)
    retry_exponential_backoff: bool = False
    max_retry_delay: timedelta | None = None
    execution_timeout: timedelta | None = None
    pool: str | None = None
    pool_slots: int = 1
    trigger_rule: str = "all_success"
    pod: PodPlan | None = None
    doc: str = ""
    teardown: bool = False
    outlets: tuple[str, ...] = ()  # Asset URIs (contract.asset_uri) the task emits an event for on success
    inlets: tuple[str, ...] = ()  # Asset URIs whose past events the task reads

    def __post_init__(self) -> None:
        expected = PAYLOAD_TYPES[self.kind]
        if type(self.payload) is not expected:
            raise TypeError(f"task {self.task_id!r} of kind {self.kind}: payload must be {expected.__name__}, "
                            f"got {type(self.payload).__name__}")

    @property
    def name(self) -> str:
        return self.task_id.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Schedule:
    """``kind``: none | once | continuous | cron (with real data intervals). ``assets``: Asset URIs that also
    trigger a run (cron *or* asset; asset only with kind none); such a run takes its window from the event."""

    kind: str
    cron: str | None = None
    assets: tuple[str, ...] = ()


@dataclass(frozen=True)
class DagPlan:
    dag_id: str
    spec_name: str
    spec_file: str
    spec_sha256: str
    description: str
    schedule: Schedule
    start_date: str
    timezone: str
    catchup: bool
    max_active_runs: int
    owner: str
    tags: tuple[str, ...]
    params: dict[str, dict[str, Any]]
    doc_md: str
    tasks: tuple[TaskPlan, ...]
    notify: dict[str, Any] | None = None

    def task(self, task_id: str) -> TaskPlan:
        return next(t for t in self.tasks if t.task_id == task_id)
