"""TrainJob / PyTorchJob builders: valid for the published CRDs (schema + CEL), and every node
gets exactly the single-pod stage's resources, tolerations, selectors, security and secrets."""

from __future__ import annotations

import pytest

from airflow_aiinfra.distributed.topology import Parallelism, Topology
from airflow_aiinfra.kube import jobs
from airflow_aiinfra.kube.naming import job_name, label_value, run_labels
from tests.support import crds
from tests.support.pods import GPU, RESTRICTED_CONTAINER, cpu_pod, full_training_pod, seed_training_pod

TOPO = Topology(
    nodes=4, procs_per_node=2, backend="nccl", parallelism=Parallelism(data=2, tensor=2, pipeline=2)
)
NAME = job_name("seed_training", "training.model_training", "scheduled__2024-06-01T00:00:00+00:00")
LABELS = run_labels("seed_training", "training.model_training", "scheduled__2024-06-01T00:00:00+00:00")


def env_of(items: list[dict]) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in items}


def trainjob_pod_patch(obj: dict) -> dict:
    [patch] = obj["spec"]["runtimePatches"]
    [rj] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    return rj["template"]["spec"]["template"]


@pytest.mark.parametrize(
    "pod",
    [
        pytest.param(seed_training_pod(), id="seed"),
        pytest.param(full_training_pod(), id="full"),
        pytest.param(cpu_pod(), id="cpu"),
    ],
)
def test_trainjob_validates_against_crd_with_exact_per_node_pod(pod) -> None:
    obj = jobs.build_trainjob(pod, TOPO, name=NAME, labels=LABELS, checkpoint_dir="/ckpt/seed/run1")
    unchecked = crds.validate(obj)
    assert unchecked == [], f"CEL rules that applied but were not evaluated: {unchecked}"
    trainer = obj["spec"]["trainer"]
    assert trainer["numNodes"] == 4 and trainer["numProcPerNode"] == 2
    assert trainer["resourcesPerNode"] == {"requests": pod.requests, "limits": pod.limits}
    env = env_of(trainer["env"])
    assert env["WORLD_SIZE"] == "8" and env["NPROC_PER_NODE"] == "2" and env["AIINFRA_BACKEND"] == "nccl"
    assert (
        env["AIINFRA_PARALLEL_DATA"],
        env["AIINFRA_PARALLEL_TENSOR"],
        env["AIINFRA_PARALLEL_PIPELINE"],
    ) == ("2", "2", "2")
    assert env["AIINFRA_CHECKPOINT_DIR"] == "/ckpt/seed/run1"
    assert {k: env[k] for k in pod.env} == pod.env  # MLflow env reaches every rank
    template = trainjob_pod_patch(obj)
    spec = template["spec"]
    assert spec.get("nodeSelector", {}) == pod.node_selector
    assert len(spec.get("tolerations", [])) == len(pod.tolerations)
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [container] = spec["containers"]
    assert container["name"] == "node"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert template["metadata"]["labels"]["airflow.apache.org/task-id"] == "training.model_training"


def test_trainjob_command_runs_the_stage_under_torchrun() -> None:
    assert jobs.build_trainjob(seed_training_pod(), TOPO, name=NAME)["spec"]["trainer"]["command"] == [
        "torchrun",
        "train.py",
        "--epochs",
        "3",
    ]
    assert jobs.build_trainjob(full_training_pod(), TOPO, name=NAME)["spec"]["trainer"]["command"] == [
        "torchrun",
        "-m",
        "trainer",
        "--epochs",
        "3",
    ]


def test_trainjob_secrets_volumes_and_mlflow_credentials() -> None:
    obj = jobs.build_trainjob(full_training_pod(), TOPO, name=NAME)
    env = env_of(obj["spec"]["trainer"]["env"])
    assert env["WANDB_API_KEY"] == {"secretKeyRef": {"name": "wandb", "key": "api_key"}}
    # The whole-secret MLflow credentials (envFrom on a pod) become optional per-key refs here.
    assert env["MLFLOW_TRACKING_TOKEN"] == {
        "secretKeyRef": {"name": "mlflow-creds", "key": "MLFLOW_TRACKING_TOKEN", "optional": True}
    }
    spec = trainjob_pod_patch(obj)["spec"]
    assert {v["name"] for v in spec["volumes"]} == {"data", "dshm", "secret-gcs-key"}
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/var/secrets/gcs"]["readOnly"] and mounts["/data"]["readOnly"]
    assert spec["serviceAccountName"] == "trainer" and spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["tolerations"][1]["tolerationSeconds"] == 300


@pytest.mark.parametrize(
    "pod", [pytest.param(seed_training_pod(), id="seed"), pytest.param(full_training_pod(), id="full")]
)
def test_pytorchjob_validates_with_master_and_workers(pod) -> None:
    obj = jobs.build_pytorchjob(pod, TOPO, name=NAME, labels=LABELS, checkpoint_dir="/ckpt/x")
    assert crds.validate(obj) == []
    replicas = obj["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 3
    assert replicas["Master"]["restartPolicy"] == "Never" and obj["spec"]["runPolicy"]["backoffLimit"] == 0
    assert obj["spec"]["nprocPerNode"] == "2"
    for role in ("Master", "Worker"):
        [c] = replicas[role]["template"]["spec"]["containers"]
        assert c["name"] == "pytorch"
        assert c["resources"] == {"requests": pod.requests, "limits": pod.limits}
        assert c["resources"]["limits"][GPU] == "2"
        assert (
            c["securityContext"]["allowPrivilegeEscalation"]
            is RESTRICTED_CONTAINER["allow_privilege_escalation"]
        )
        assert env_of(c["env"])["WORLD_SIZE"] == "8"


def test_pytorchjob_keeps_whole_secret_env_and_priority_class() -> None:
    obj = jobs.build_pytorchjob(full_training_pod(priority_class="training-high"), TOPO, name=NAME)
    crds.validate(obj)
    spec = obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "mlflow-creds"}}]
    assert spec["priorityClassName"] == "training-high"


def test_single_node_pytorchjob_has_no_workers() -> None:
    obj = jobs.build_pytorchjob(cpu_pod(), Topology(nodes=1, procs_per_node=2), name=NAME)
    crds.validate(obj)
    assert set(obj["spec"]["pytorchReplicaSpecs"]) == {"Master"}


def test_trainjob_refuses_what_its_runtime_patch_cannot_express() -> None:
    with pytest.raises(
        ValueError, match="priority_class 'high' cannot be set on a TrainJob.*use `job: pytorchjob`"
    ):
        jobs.build_trainjob(seed_training_pod(priority_class="high"), TOPO, name=NAME)
    from airflow_aiinfra.plan.model import SecretPlan

    with pytest.raises(ValueError, match="secret 'all' is exposed as all of its keys"):
        jobs.build_trainjob(seed_training_pod(secrets=(SecretPlan("all", env="X"),)), TOPO, name=NAME)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"nodes": 2, "procs_per_node": 2, "parallelism": Parallelism(2, 2, 2)},
            r"data=2 × tensor=2 × pipeline=2 = 8, but the world size is nodes=2 × procs_per_node=2 = 4",
            id="product",
        ),
        pytest.param({"nodes": 0}, r"nodes = 0: use a whole number >= 1", id="nodes"),
        pytest.param({"nodes": 1, "backend": "mpi"}, r"backend = 'mpi': use one of nccl, gloo", id="backend"),
    ],
)
def test_bad_topologies_name_the_numbers(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Topology(**kwargs)


def test_crd_validation_catches_what_a_server_would() -> None:
    obj = jobs.build_trainjob(seed_training_pod(), TOPO, name=NAME)
    bad = {**obj, "metadata": {**obj["metadata"], "name": "Bad_Name"}}
    report = crds.check(bad)
    assert any("RFC 1035" in e for e in report.errors), report.errors
    obj["spec"]["trainer"]["numProcPerNode"] = 0
    obj["spec"]["trainer"]["gpus"] = 2
    errors = crds.check(obj).errors
    assert any("numProcPerNode must be greater than or equal to 1" in e for e in errors)
    assert any("'gpus' was unexpected" in e for e in errors)


def test_job_name_is_deterministic_per_run_and_task_and_a_dns_label() -> None:
    a = job_name("d", "g.t", "manual__2024-01-01T00:00:00+00:00")
    assert a == job_name("d", "g.t", "manual__2024-01-01T00:00:00+00:00")
    assert a != job_name("d", "g.t", "manual__2024-01-02T00:00:00+00:00")
    assert a != job_name("d", "g.t", "manual__2024-01-01T00:00:00+00:00", map_index=0)
    long = job_name("x" * 200, "9" * 100, "r")
    for name in (a, long, job_name("D", "_", "r")):
        assert crds.cel_rules.check_for("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')")(
            {"metadata": {"name": name}}, None
        ), name
        assert len(name) <= 48
    assert label_value("manual__2024-01-01T00:00:00+00:00") != label_value(
        "manual__2024-01-01T00:00:00-00:00"
    )


def test_topology_mlflow_params() -> None:
    assert TOPO.mlflow_params()["distributed.world_size"] == "8"
    assert TOPO.mlflow_params()["distributed.parallel_tensor"] == "2"
