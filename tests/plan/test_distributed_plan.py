"""The seed's training stages made distributed (and a Spark stage beside them): the planned TrainJob,
PyTorchJob and SparkApplication validate against the published CRDs with exactly the declared per-node
resources, GPU tolerations and pool slots; every rank gets the MLflow run's environment and a checkpoint
directory per DAG run; the topology reaches the pipeline's MLflow params."""

from __future__ import annotations

import pytest

from airflow_aiinfra.contract import (
    MLFLOW_START_RUN,
    RESERVED_ENV,
    DistributedJobPayload,
    SparkPayload,
    TaskKind,
)
from airflow_aiinfra.distributed.topology import ENV_DOC
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.model import DagPlan
from airflow_aiinfra.spec.load import load_spec_text
from tests.conftest import FIXTURES
from tests.support import crds

GPU = "nvidia.com/gpu"
SEED = (FIXTURES / "seed_spec.yaml").read_text(encoding="utf-8")
TOLERATION = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
SPARK_STAGE = """
    - name: "daily_totals"
      image: "spark:4.0.0"
      depends_on: ["data_preparation"]
      spark:
        application: jobs/daily_totals.py
        arguments: ["--date", "{{ ds }}"]
        driver: {cpu: "1", memory: 2Gi}
        executor: {cpu: "2", memory: 8Gi, memory_overhead: 1Gi, gpu: 1}
        executors: {min: 1, max: 4}
        conf: {spark.sql.shuffle.partitions: 64}
"""
# (stage, its distributed block, nodes, GPUs per node) for each of the seed's three training stages
DISTRIBUTED = [
    ("data_preparation", "{framework: pytorch, nodes: 2, job: JOB}", 2, 1),
    ("model_training", "{framework: pytorch, nodes: 4, job: JOB, parallelism: {data: 2, tensor: 2, pipeline: 2}}",
     4, 2),
    ("model_validation", "{framework: pytorch, nodes: 3, procs_per_node: 2, job: JOB}", 3, 0),
]


def seed_made_distributed(job: str, *, experiment: bool = True) -> str:
    """The seed spec verbatim, each training stage given a command and a ``distributed:`` block, plus a
    Spark stage and an experiment."""
    text = SEED
    for stage, block, _, _ in DISTRIBUTED:
        head = f'    - name: "{stage}"\n'
        text = text.replace(head, head + f'      command: ["python", "{stage}.py"]\n'
                                          f"      distributed: {block.replace('JOB', job)}\n")
    text += SPARK_STAGE
    text += "defaults: {gpu_pool_slots: 8, namespace: ml}\n"
    if experiment:
        text += "experiment: {name: seed, credentials_secret: mlflow-creds}\n"
    return text


def pipeline(text: str) -> DagPlan:
    (plan,) = [p for p in build_plans(load_spec_text(text)) if p.dag_id.endswith("__pipeline")]
    return plan


@pytest.fixture(scope="module", params=["trainjob", "pytorchjob"])
def plan(request: pytest.FixtureRequest) -> DagPlan:
    return pipeline(seed_made_distributed(request.param))


def env_of(items: list[dict]) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in items}


def node_pods(body: dict) -> list[tuple[dict, dict, dict]]:
    """(pod spec, main container, its resources) per node template of a TrainJob or PyTorchJob."""
    if body["kind"] == "TrainJob":
        [patch] = body["spec"]["runtimePatches"]
        [rj] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
        spec = rj["template"]["spec"]["template"]["spec"]
        container = {**spec["containers"][0], "env": body["spec"]["trainer"]["env"]}
        return [(spec, container, body["spec"]["trainer"]["resourcesPerNode"])]
    out = []
    for replica in body["spec"]["pytorchReplicaSpecs"].values():
        spec = replica["template"]["spec"]
        out.append((spec, spec["containers"][0], spec["containers"][0]["resources"]))
    return out


@pytest.mark.parametrize(("stage", "nodes", "gpu"), [pytest.param(s, n, g, id=s) for s, _, n, g in DISTRIBUTED])
def test_distributed_stages_validate_with_exact_per_node_resources(plan: DagPlan, stage: str, nodes: int,
                                                                   gpu: int) -> None:
    task = plan.task(f"training.{stage}")
    assert task.kind == TaskKind.DISTRIBUTED_JOB and isinstance(task.payload, DistributedJobPayload)
    body = task.payload.body
    assert crds.validate(body) == [], "CEL rules that applied but were not evaluated"
    declared = {"data_preparation": ("2", "8Gi"), "model_training": ("4", "16Gi"), "model_validation": ("1", "4Gi")}
    cpu, memory = declared[stage]
    for spec, container, resources in node_pods(body):
        expected = {"cpu": cpu, "memory": memory, **({GPU: str(gpu)} if gpu else {})}
        assert resources == {"requests": expected, "limits": expected}  # per node, exactly as declared
        assert (TOLERATION in spec.get("tolerations", [])) == bool(gpu)
        assert spec["securityContext"]["runAsNonRoot"] is True
        env = env_of(container["env"])
        assert env["MLFLOW_RUN_ID"] == "{{ ti.xcom_pull(task_ids='mlflow.start_run') }}"  # every rank
        assert env["AIINFRA_CHECKPOINT_DIR"] == f"checkpoints/seed/{stage}/{{{{ run_id }}}}"
    # GPU pools count the whole job
    assert (task.pool, task.pool_slots) == (("aiinfra_gpu", nodes * gpu) if gpu else (None, 1))


def test_topology_defaults_and_what_the_local_runner_gets(plan: DagPlan) -> None:
    train = plan.task("training.model_training").payload
    assert train.topology == {"nodes": 4, "procs_per_node": 2, "backend": "nccl",  # one process per GPU, nccl
                              "parallelism": {"data": 2, "tensor": 2, "pipeline": 2}}
    assert train.command == ["python", "model_training.py"] and train.gpu_count == 2
    assert train.env["MLFLOW_EXPERIMENT_NAME"] == "seed" and train.record_outcome
    assert train.deferrable and train.on_finish_action == "delete_job"
    validation = plan.task("training.model_validation").payload
    assert validation.topology["backend"] == "gloo" and validation.topology["procs_per_node"] == 2
    assert validation.checkpoint_dir == "checkpoints/seed/model_validation/{{ run_id }}"


def test_topology_is_logged_as_mlflow_params_of_the_pipeline_run(plan: DagPlan) -> None:
    params = plan.task(MLFLOW_START_RUN).payload.params_to_log
    assert {k: v for k, v in params.items() if k.startswith("stage.model_training.distributed.")} == {
        "stage.model_training.distributed.nodes": "4",
        "stage.model_training.distributed.procs_per_node": "2",
        "stage.model_training.distributed.world_size": "8",
        "stage.model_training.distributed.backend": "nccl",
        "stage.model_training.distributed.parallel_data": "2",
        "stage.model_training.distributed.parallel_tensor": "2",
        "stage.model_training.distributed.parallel_pipeline": "2",
    }
    assert params["stage.daily_totals.spark.executors"] == "1..4"
    # mlflow.end_run logs every stage's outcome, distributed and Spark stages included
    assert set(plan.task("mlflow.end_run").payload.stage_task_ids) >= {"training.model_training",
                                                                       "training.daily_totals"}


def test_spark_stage_validates_with_declared_driver_and_executor_resources(plan: DagPlan) -> None:
    task = plan.task("training.daily_totals")
    assert task.kind == TaskKind.SPARK and isinstance(task.payload, SparkPayload)
    app = task.payload.template_spec["spark"]
    assert crds.validate(app) == []
    spec = app["spec"]
    assert spec["mainApplicationFile"] == "local:///opt/spark/work-dir/jobs/daily_totals.py"
    assert spec["driver"].items() >= {"cores": 1, "coreRequest": "1", "memory": "2048m"}.items()
    assert spec["executor"].items() >= {"cores": 2, "coreRequest": "2", "memory": "8192m",
                                        "memoryOverhead": "1024m", "gpu": {"name": GPU, "quantity": 1}}.items()
    assert TOLERATION in spec["executor"]["tolerations"]  # executors with GPUs land on GPU nodes
    assert spec["dynamicAllocation"]["maxExecutors"] == 4 and spec["arguments"] == ["--date", "{{ ds }}"]
    assert env_of(spec["driver"]["env"])["MLFLOW_RUN_ID"].startswith("{{ ti.xcom_pull(")
    assert spec["driver"]["envFrom"] == [{"secretRef": {"name": "mlflow-creds"}}]
    assert (task.pool, task.pool_slots) == ("aiinfra_gpu", 4)  # at most 4 executors × 1 GPU
    local = task.payload
    assert (local.application, local.application_args) == ("jobs/daily_totals.py", ["--date", "{{ ds }}"])
    assert local.executors == {"count": None, "min_count": 1, "max_count": 4}
    assert local.spark_conf == {"spark.sql.shuffle.partitions": "64"}


def test_a_trainjob_carries_the_mlflow_credentials_as_per_key_refs() -> None:
    body = pipeline(seed_made_distributed("trainjob")).task("training.model_training").payload.body
    env = env_of(body["spec"]["trainer"]["env"])
    assert env["MLFLOW_TRACKING_PASSWORD"] == {
        "secretKeyRef": {"name": "mlflow-creds", "key": "MLFLOW_TRACKING_PASSWORD", "optional": True}}


def test_launcher_env_is_reserved_in_the_one_list() -> None:
    for name in (*ENV_DOC, "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "PET_NNODES"):
        assert name in RESERVED_ENV, name


def test_render_shows_the_custom_objects_beside_the_pods(tmp_path) -> None:
    from airflow_aiinfra.wiring.render import render_spec

    path = tmp_path / "specs" / "seed.yaml"
    path.parent.mkdir()
    path.write_text(seed_made_distributed("pytorchjob", experiment=False))
    out = render_spec(str(path))
    assert "# PyTorchJob of seed__pipeline.training.model_training" in out
    assert "# SparkApplication of seed__pipeline.training.daily_totals" in out
    assert "[distributed_job]" in out and "pool=aiinfra_gpux8" in out
    assert "# pod of " not in out  # every stage is a job here: no pods, and no pod for the Spark operator
