"""The one contract between the plan layer and the operators: task kinds, payloads, task ids, XCom keys.

The plan says *what* a task does as a :class:`TaskKind` and a payload; the wiring layer turns each kind into
its operator (one literal table, ``wiring/builders.py``). A payload's fields are exactly the operator's
keyword arguments (flat, plain data: Airflow templates and serializes operator attributes, so no opaque
objects), and a test ties every kind to one builder and every field to an explicit operator parameter.

Workers import this module when they run a task, so it imports nothing but the standard library (no
pydantic, no Airflow). Task ids and XCom keys that several integrations share are spelled only here.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any, TypedDict


class TaskKind(StrEnum):
    """Every kind of task the factory builds (a closed set: never a class path from YAML)."""

    STAGE = "stage"
    DQ_GATE = "dq_gate"
    FEAST_APPLY = "feast_apply"
    FEAST_MATERIALIZE = "feast_materialize"
    FEAST_CONSISTENCY = "feast_consistency"
    FEAST_TRAINING_SET = "feast_training_set"
    MLFLOW_START_RUN = "mlflow_start_run"
    MLFLOW_REGISTER_MODEL = "mlflow_register_model"
    MLFLOW_END_RUN = "mlflow_end_run"
    DISTRIBUTED_JOB = "distributed_job"
    SPARK = "spark"
    INFERENCE_RESOLVE = "inference_resolve"
    DRIFT_CHECK = "drift_check"
    DECAY_CHECK = "decay_check"
    RETRAIN_REQUEST = "retrain_request"
    WAIT_DAG_RUN = "wait_dag_run"
    INFERENCE_PUBLISH = "inference_publish"
    ROLLOUT_DEPLOY = "rollout_deploy"
    ROLLOUT_ANALYZE = "rollout_analyze"
    ROLLOUT_SHIFT = "rollout_shift"
    ROLLOUT_PROMOTE = "rollout_promote"
    ROLLOUT_ROLLBACK = "rollout_rollback"


# --- task groups and ids shared by several modules ---------------------------------------------------------
TRAINING_GROUP = "training"
DATA_QUALITY_GROUP = "data_quality"
FEATURES_GROUP = "features"
MLFLOW_GROUP = "mlflow"
INFERENCE_GROUP = "inference"
MONITOR_GROUP = "monitor"

MLFLOW_START_RUN = f"{MLFLOW_GROUP}.start_run"
MLFLOW_REGISTER_MODEL = f"{MLFLOW_GROUP}.register_model"
MLFLOW_END_RUN = f"{MLFLOW_GROUP}.end_run"
FEAST_APPLY = f"{FEATURES_GROUP}.apply"
FEAST_MATERIALIZE = f"{FEATURES_GROUP}.materialize"
FEAST_CONSISTENCY = f"{FEATURES_GROUP}.consistency"
FEAST_TRAINING_SET = f"{FEATURES_GROUP}.training_set"
INFERENCE_RESOLVE_MODEL = f"{INFERENCE_GROUP}.resolve_model"
INFERENCE_SCORE = f"{INFERENCE_GROUP}.score"
INFERENCE_PUBLISH = f"{INFERENCE_GROUP}.publish"
MONITOR_WAIT = f"{MONITOR_GROUP}.wait_inference"
MONITOR_DRIFT = f"{MONITOR_GROUP}.drift"
MONITOR_DECAY = f"{MONITOR_GROUP}.decay"
MONITOR_RETRAIN = f"{MONITOR_GROUP}.retrain"

# Pulled by the scoring stage's env: the model version inference.resolve_model pinned for this interval.
PINNED_MODEL_TEMPLATE = "{{ ti.xcom_pull(task_ids='" + INFERENCE_RESOLVE_MODEL + "')['%s'] }}"


def asset_uri(spec_name: str, what: str) -> str:
    """The Airflow Asset a spec's DAGs emit: ``retrain`` (monitor → pipeline), ``features`` (materialize),
    ``predictions`` (batch inference). One spelling, used by the plan and by operators reading events."""
    return f"aiinfra://{spec_name}/{what}"


# Keys of a retrain asset event's extra: the window the triggered pipeline run processes.
EVENT_WINDOW_START = "data_interval_start"
EVENT_WINDOW_END = "data_interval_end"
ROLLOUT_GROUP = "rollout"
ROLLOUT_DEPLOY = f"{ROLLOUT_GROUP}.deploy_canary"
ROLLOUT_PROMOTE = f"{ROLLOUT_GROUP}.promote"
ROLLOUT_ROLLBACK = f"{ROLLOUT_GROUP}.rollback"


def analyze_task_id(weight: int) -> str:
    return f"{ROLLOUT_GROUP}.analyze_{weight}"


def shift_task_id(weight: int) -> str:
    return f"{ROLLOUT_GROUP}.shift_{weight}"


def stage_task_id(stage: str) -> str:
    return f"{TRAINING_GROUP}.{stage}"


def gate_task_id(gate: str) -> str:
    return f"{DATA_QUALITY_GROUP}.{gate}"


# --- XCom keys -------------------------------------------------------------------------------------------
XCOM_MLFLOW_RUN = "mlflow_run"  # pushed by mlflow.start_run: {run_id, experiment_id, tracking_uri, conn_id, run_url}
XCOM_TRACKING_URI = "tracking_uri"  # pushed by mlflow.start_run: what stages' MLFLOW_TRACKING_URI renders to
XCOM_ROLLOUT = "rollout"  # pushed by rollout.deploy_canary: {new_version, new_uri, new_label, champion, initial}
XCOM_VERDICT = "rollout_verdict"  # pushed by every rollout.analyze_*: {step, weight, verdict (Verdict.to_dict())}
XCOM_PROMETHEUS_GRAPH = "prometheus_graph"  # pushed by rollout.analyze_*: Prometheus graph URL of its queries
# The DAG param that promotes now: analyses and shifts let traffic be, rollout.promote promotes.
PROMOTE_NOW_PARAM = "rollout_promote_now"
XCOM_STAGE_OUTCOME = "stage_outcome"  # pushed by every stage: {state, seconds, try_number}; read by mlflow.end_run

# Templates stages get when the spec has an experiment (rendered on the worker from mlflow.start_run's XCom).
MLFLOW_RUN_ID_TEMPLATE = "{{ ti.xcom_pull(task_ids='" + MLFLOW_START_RUN + "') }}"
MLFLOW_TRACKING_URI_TEMPLATE = (
    "{{ ti.xcom_pull(task_ids='" + MLFLOW_START_RUN + "', key='" + XCOM_TRACKING_URI + "') }}"
)


# --- environment variables the product sets in stages ------------------------------------------------------
# A stage may not set these itself (a located spec error names who sets each); one list, so every stage kind
# adds its own names here. Two more are reserved only when their section is there: MLFLOW_ENV with an
# `experiment` (spec/checks/experiment.py), the training-set variable (its configured name) with a
# `feature_store.training_set` (spec/checks/features.py).
MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")
# What every rank of a distributed stage finds in its environment (docs/distributed.md), name → meaning.
DISTRIBUTED_ENV: dict[str, str] = {
    "WORLD_SIZE": "total processes: nodes × procs_per_node",
    "NPROC_PER_NODE": "processes per node (torchrun's --nproc-per-node)",
    "AIINFRA_NNODES": "number of nodes",
    "AIINFRA_BACKEND": "torch.distributed backend to initialise: nccl or gloo",
    "AIINFRA_PARALLEL_DATA": "data-parallel degree",
    "AIINFRA_PARALLEL_TENSOR": "tensor-parallel degree",
    "AIINFRA_PARALLEL_PIPELINE": "pipeline-parallel degree",
    "AIINFRA_CHECKPOINT_DIR": "checkpoint directory of this DAG run and task: a retried job resumes from it",
}
# Set by torchrun or the job controller (PET_* are torchrun's flag defaults, which the controllers set).
LAUNCHER_ENV = (
    "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
    "PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT",
)
RESERVED_ENV: dict[str, str] = {
    # the GPUs a stage may see follow its `resources.gpu`; on nodes with the NVIDIA runtime
    # NVIDIA_VISIBLE_DEVICES=all would expose every GPU of the node to a CPU stage
    **{name: "the product from resources.gpu (the device plugin or the local runner)" for name in (
        "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "ROCR_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")},
    **{name: "the `distributed` section (every rank's topology and checkpoint directory)"
       for name in DISTRIBUTED_ENV},
    **{name: "PyTorch's launcher (torchrun) or the job controller" for name in LAUNCHER_ENV},
}


# --- payloads --------------------------------------------------------------------------------------------
class Payload:
    """Base of the payloads: ``kwargs()`` are the operator's keyword arguments (shallow, as planned)."""

    def kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, kw_only=True)
class StagePayload(Payload):
    """A training stage (``StageOperator``); its pod is the task's ``PodPlan``, built into KPO arguments."""

    gpu_count: int = 0
    local_cwd: str | None = None
    record_outcome: bool = False  # push XCOM_STAGE_OUTCOME for mlflow.end_run (set when the spec has an experiment)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GatePayload(Payload):
    """A Great Expectations gate (``DataQualityOperator``)."""

    gate: str
    path: str | None = None
    format: str | None = None
    query: str | None = None
    conn_id: str | None = None
    query_params: dict[str, str | int | float | bool] = dataclasses.field(default_factory=dict)
    expectations: list[dict[str, dict[str, Any] | None]] = dataclasses.field(default_factory=list)
    suite_path: str | None = None
    on_failure: str = "fail"
    base_dir: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeastStorePayload(Payload):
    """Where a feature store lives. ``online_store_type``/``offline_store_type`` None: the repo decides."""

    project: str
    repo_path: str | None = None
    online_store_type: str | None = None
    online_store_path: str | None = None
    online_store_conn_id: str | None = None
    offline_store_type: str | None = None
    offline_store_conn_id: str | None = None
    allow_overwrite_newer: bool = False


class FeastEntityDef(TypedDict):
    name: str
    join_keys: list[str]
    description: str
    value_type: str


class FeastSourceDef(TypedDict):
    path: str | None
    query: str | None
    conn_id: str | None
    timestamp_field: str
    created_timestamp_column: str | None


class FeastFeatureDef(TypedDict):
    name: str
    dtype: str
    description: str


class FeastViewDef(TypedDict):
    name: str
    entity: str
    join_keys: list[str]
    source: str
    ttl_seconds: int
    online: bool
    features: list[FeastFeatureDef]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeastApplyPayload(FeastStorePayload):
    """Inline definitions, or none of them with ``repo_path`` (the repo defines its objects)."""

    entities: list[FeastEntityDef] = dataclasses.field(default_factory=list)
    sources: dict[str, FeastSourceDef] = dataclasses.field(default_factory=dict)
    feature_views: list[FeastViewDef] = dataclasses.field(default_factory=list)
    unsourced_features: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeastMaterializePayload(FeastStorePayload):
    views: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeastConsistencyPayload(FeastStorePayload):
    views: list[str] = dataclasses.field(default_factory=list)
    tolerance: float = 0.001
    alert_threshold: float = 0.01
    sample_size: int = 1000
    check_interval_seconds: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class FeastTrainingSetPayload(FeastStorePayload):
    output_path: str
    features: list[str] = dataclasses.field(default_factory=list)
    feature_service: str | None = None
    views: list[str] = dataclasses.field(default_factory=list)
    entity_path: str | None = None
    entity_query: str | None = None
    entity_query_params: dict[str, str | int | float | bool] = dataclasses.field(default_factory=dict)
    entity_conn_id: str | None = None
    entity_timestamp_field: str = "event_timestamp"
    entity_window_seconds: int | None = None
    base_dir: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class MlflowStartRunPayload(Payload):
    experiment_name: str
    tracking_uri: str | None = None
    conn_id: str | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    params_to_log: dict[str, str] = dataclasses.field(default_factory=dict)
    spec_name: str
    spec_file: str
    spec_text: str
    spec_sha256: str


class MetricGateDef(TypedDict):
    metric: str
    op: str
    threshold: float


class DatasetFileDef(TypedDict):
    path: str  # templated by the run
    format: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class MlflowRegisterModelPayload(Payload):
    registered_model: str
    alias: str = "challenger"
    model_name: str | None = None
    metric_gates: list[MetricGateDef] = dataclasses.field(default_factory=list)
    spec_sha256: str = ""
    datasets: dict[str, DatasetFileDef] = dataclasses.field(default_factory=dict)  # context → file (MLflow inputs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MlflowEndRunPayload(Payload):
    stage_task_ids: list[str] = dataclasses.field(default_factory=list)


class CustomObject(TypedDict):
    """A Kubernetes custom resource as the API server receives it (JSON, camelCase)."""

    apiVersion: str  # noqa: N815 - Kubernetes' own key
    kind: str
    metadata: dict[str, Any]
    spec: dict[str, Any]


class SparkTemplate(TypedDict):
    """The provider's ``SparkKubernetesOperator(template_spec=...)``: the SparkApplication under ``spark``."""

    spark: CustomObject


class TopologyDef(TypedDict):
    """``distributed.topology.Topology`` as plain data; ``parallelism`` is {data, tensor, pipeline} or None."""

    nodes: int
    procs_per_node: int
    backend: str
    parallelism: dict[str, int] | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistributedJobPayload(Payload):
    """A distributed training stage (``DistributedJobOperator``). On a cluster: ``body``, the TrainJob or
    PyTorchJob rendered from the stage's pod and topology (its name is set per DAG run and task by the
    operator). Under the local runner: ``command`` under torchrun with ``topology``, ``env`` and ``cwd``."""

    body: CustomObject
    kubernetes_conn_id: str = "kubernetes_default"
    deferrable: bool = True
    poll_interval: float = 30.0
    on_finish_action: str = "delete_job"
    command: list[str] = dataclasses.field(default_factory=list)
    topology: TopologyDef
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    gpu_count: int = 0
    checkpoint_dir: str | None = None
    local_cwd: str | None = None
    record_outcome: bool = False


class SparkRoleDef(TypedDict):
    """``kube.spark.SparkRole`` as plain data (Kubernetes quantities, as declared)."""

    cpu: str
    memory: str
    memory_overhead: str | None
    gpu: int
    gpu_resource: str


class ExecutorsDef(TypedDict):
    """``kube.spark.Executors``: a ``count``, or ``min_count``..``max_count`` (the others None)."""

    count: int | None
    min_count: int | None
    max_count: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparkPayload(Payload):
    """A Spark stage (``SparkStageOperator``, the provider's ``SparkKubernetesOperator``). On a cluster:
    ``template_spec`` = {"spark": the SparkApplication}; its name is set per DAG run and task. Under the
    local runner: ``application`` (as written in the spec) under ``spark-submit --master local[N]``."""

    template_spec: SparkTemplate
    namespace: str = "default"
    kubernetes_conn_id: str = "kubernetes_default"
    random_name_suffix: bool = False
    delete_on_termination: bool = True
    get_logs: bool = True
    application: str
    application_args: list[str] = dataclasses.field(default_factory=list)
    spark_conf: dict[str, str] = dataclasses.field(default_factory=dict)
    driver_resources: SparkRoleDef
    executor_resources: SparkRoleDef
    executors: ExecutorsDef
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    local_cwd: str | None = None
    record_outcome: bool = False


class DriftFeatureDef(TypedDict):
    """``spec.model.monitoring.FeatureCheck`` with its defaults applied."""

    name: str
    type: str  # numerical | categorical
    test: str  # psi | wasserstein | ks | chi2 | jensenshannon
    threshold: float


class OfflineSourceDef(TypedDict):
    """A feature-store file source: its rows whose ``timestamp_field`` is in the window are the window."""

    path: str
    timestamp_field: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class MonitorPayload(Payload):
    """What every monitoring task shares: the spec, the registry model and where MLflow lives."""

    spec_name: str
    model_uri: str  # models:/NAME@ALIAS or models:/NAME/VERSION
    experiment_name: str  # monitoring and inference runs go to "<experiment>-monitoring"
    tracking_uri: str | None = None
    conn_id: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class InferenceResolvePayload(MonitorPayload):
    """Pins the alias to a version for this data interval (a rerun of the interval keeps it)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class InferencePublishPayload(Payload):
    """Loads the interval's output file into a Postgres table, replacing the interval's rows."""

    output_dir: str
    table: str
    conn_id: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class DriftCheckPayload(MonitorPayload):
    reference_path: str | None = None  # None: the champion's recorded training data
    current: str = "batch_inference"  # batch_inference | request_log | offline_store | file
    current_path: str | None = None  # batch_inference: the output folder; file: the file; request_log: the folder
    offline_sources: list[OfflineSourceDef] = dataclasses.field(default_factory=list)  # current: offline_store
    features: list[DriftFeatureDef] = dataclasses.field(default_factory=list)
    prediction: DriftFeatureDef | None = None
    drift_share: float = 0.5
    on_drift: str = "warn"


class FloorDef(TypedDict):
    metric: str
    op: str
    threshold: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class DecayCheckPayload(MonitorPayload):
    predictions_path: str  # the batch-inference output folder (one file per interval)
    labels_path: str
    key: list[str] = dataclasses.field(default_factory=list)
    label_column: str = "label"
    task: str = "classification"
    floors: list[FloorDef] = dataclasses.field(default_factory=list)
    on_decay: str = "fail"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetrainRequestPayload(Payload):
    """Emits the spec's retrain Asset event (window in its extra) when a check found what ``retrain_on``
    names, at most once per ``cooldown_seconds`` of windows; skipped (no event) otherwise."""

    retrain_on: list[str] = dataclasses.field(default_factory=list)
    check_task_ids: dict[str, str] = dataclasses.field(default_factory=dict)  # drift|decay → task id
    cooldown_seconds: int = 86400
    asset_uri: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class WaitDagRunPayload(Payload):
    """Waits for the same interval's run of another DAG (same schedule) to succeed."""

    external_dag_id: str
    timeout_seconds: int = 6 * 3600
    poke_seconds: int = 60


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutPayload(Payload):
    """What every rollout task shares: the registry model, and the router as ``router_for(router_type,
    router)`` builds it (the spec's router block without ``type``, plus ``stable_server``/``canary_server``
    for haproxy and ``header_conditions`` for istio)."""

    registered_model: str
    router_type: str
    router: dict[str, str | int | list[str]] = dataclasses.field(default_factory=dict)
    target: str  # "haproxy:model_serving": names the serving target in logs and tags


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutDeployPayload(RolloutPayload):
    weight: int  # the first step's canary weight


class CustomCheckDef(TypedDict):
    name: str
    query: str  # PromQL with {version}
    max: float | None
    min: float | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutAnalyzePayload(RolloutPayload):
    weight: int
    step: int  # 1-based index of the step (MLflow metric step)
    window_seconds: float
    scrape_interval_seconds: float = 15.0
    prometheus_conn_id: str = "prometheus_default"
    thresholds: dict[str, float] = dataclasses.field(default_factory=dict)
    comparison_confidence: float | None = None  # None: no comparative judge
    comparison_metrics: list[str] = dataclasses.field(default_factory=list)
    checks: list[CustomCheckDef] = dataclasses.field(default_factory=list)
    min_requests: int = 100
    max_failed_checks: int = 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutShiftPayload(RolloutPayload):
    weight: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutPromotePayload(RolloutPayload):
    hold_weight: int | None = None  # an A/B split held at this weight: no promotion unless promoted now
    thresholds: dict[str, float] = dataclasses.field(default_factory=dict)  # drawn on the chart


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutRollbackPayload(RolloutPayload):
    thresholds: dict[str, float] = dataclasses.field(default_factory=dict)  # drawn on the chart


PAYLOAD_TYPES: dict[TaskKind, type[Payload]] = {
    TaskKind.STAGE: StagePayload,
    TaskKind.DQ_GATE: GatePayload,
    TaskKind.FEAST_APPLY: FeastApplyPayload,
    TaskKind.FEAST_MATERIALIZE: FeastMaterializePayload,
    TaskKind.FEAST_CONSISTENCY: FeastConsistencyPayload,
    TaskKind.FEAST_TRAINING_SET: FeastTrainingSetPayload,
    TaskKind.MLFLOW_START_RUN: MlflowStartRunPayload,
    TaskKind.MLFLOW_REGISTER_MODEL: MlflowRegisterModelPayload,
    TaskKind.MLFLOW_END_RUN: MlflowEndRunPayload,
    TaskKind.DISTRIBUTED_JOB: DistributedJobPayload,
    TaskKind.SPARK: SparkPayload,
    TaskKind.INFERENCE_RESOLVE: InferenceResolvePayload,
    TaskKind.DRIFT_CHECK: DriftCheckPayload,
    TaskKind.DECAY_CHECK: DecayCheckPayload,
    TaskKind.RETRAIN_REQUEST: RetrainRequestPayload,
    TaskKind.WAIT_DAG_RUN: WaitDagRunPayload,
    TaskKind.INFERENCE_PUBLISH: InferencePublishPayload,
    TaskKind.ROLLOUT_DEPLOY: RolloutDeployPayload,
    TaskKind.ROLLOUT_ANALYZE: RolloutAnalyzePayload,
    TaskKind.ROLLOUT_SHIFT: RolloutShiftPayload,
    TaskKind.ROLLOUT_PROMOTE: RolloutPromotePayload,
    TaskKind.ROLLOUT_ROLLBACK: RolloutRollbackPayload,
}
