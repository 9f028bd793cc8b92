"""SparkApplication builder: valid for the CRD, declared resources in Spark's units, and exactly
what the provider's own SparkKubernetesOperator sends is still valid."""

from __future__ import annotations

import pytest

from airflow_aiinfra.kube.spark import (
    Executors,
    SparkRole,
    build_spark_application,
    spark_memory,
    spark_operator_kwargs,
)
from tests.support import crds
from tests.support.pods import cpu_pod, full_training_pod

DRIVER = SparkRole(cpu="1", memory="2Gi")
EXECUTOR = SparkRole(cpu="500m", memory="4Gi", memory_overhead="1Gi")


def app(**kw):
    kw.setdefault("executors", Executors(count=10))
    return build_spark_application(
        cpu_pod(),
        name="features-1a2b",
        main_application_file="local:///opt/app/job.py",
        driver=DRIVER,
        executor=EXECUTOR,
        conf={"spark.sql.shuffle.partitions": 64},
        **kw,
    )


def test_fixed_executors_validate_with_declared_resources() -> None:
    obj = app(arguments=["--date", "{{ ds }}"])
    assert crds.validate(obj) == []
    spec = obj["spec"]
    assert spec["executor"]["instances"] == 10 and "dynamicAllocation" not in spec
    assert (
        spec["driver"].items()
        >= {"cores": 1, "coreRequest": "1", "coreLimit": "1", "memory": "2048m"}.items()
    )
    assert (
        spec["executor"].items()
        >= {"cores": 1, "coreRequest": "500m", "memory": "4096m", "memoryOverhead": "1024m"}.items()
    )
    assert spec["sparkConf"] == {"spark.sql.shuffle.partitions": "64"}
    assert spec["restartPolicy"] == {"type": "Never"}
    assert spec["driver"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_dynamic_allocation_range() -> None:
    obj = app(executors=Executors(min_count=2, max_count=20))
    crds.validate(obj)
    assert obj["spec"]["dynamicAllocation"] == {
        "enabled": True,
        "initialExecutors": 2,
        "minExecutors": 2,
        "maxExecutors": 20,
        "shuffleTrackingEnabled": True,
    }


def test_pod_features_reach_driver_and_executors() -> None:
    obj = build_spark_application(
        full_training_pod(),
        name="s",
        main_application_file="local:///a.py",
        driver=DRIVER,
        executor=SparkRole(cpu="4", memory="16Gi", gpu=1),
        executors=Executors(count=2),
    )
    crds.validate(obj)
    for role in ("driver", "executor"):
        r = obj["spec"][role]
        assert r["nodeSelector"] and r["tolerations"] and r["affinity"] and r["serviceAccount"] == "trainer"
        assert {e["name"] for e in r["env"]} >= {"MLFLOW_TRACKING_URI", "WANDB_API_KEY"}
    assert obj["spec"]["executor"]["gpu"] == {"name": "nvidia.com/gpu", "quantity": 1}
    assert obj["spec"]["imagePullSecrets"] == ["registry"]


def test_the_providers_operator_sends_a_valid_object() -> None:
    """The provider's SparkKubernetesOperator reshapes the template (name, namespace, labels):
    validate the body its CustomObjectLauncher would POST."""
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import CustomObjectLauncher
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    obj = app()
    op = SparkKubernetesOperator(task_id="features", **spark_operator_kwargs(obj))
    assert op.create_job_name() == "features-1a2b"  # deterministic: no random suffix
    launcher = CustomObjectLauncher(
        name=op.name,
        namespace=op.namespace,
        kube_client=None,  # type: ignore[arg-type]
        custom_obj_api=None,
        template_body=op.template_body,
    )  # type: ignore[arg-type]
    assert crds.validate(launcher.body) == []
    assert (launcher.api_group, launcher.api_version, launcher.plural) == (
        "sparkoperator.k8s.io",
        "v1beta2",
        "sparkapplications",
    )


@pytest.mark.parametrize(
    ("quantity", "spark"), [("16Gi", "16384m"), ("512Mi", "512m"), ("1G", "954m"), ("1.5Gi", "1536m")]
)
def test_spark_memory(quantity: str, spark: str) -> None:
    assert spark_memory(quantity) == spark


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"count": 2, "min_count": 1, "max_count": 3}, "either a count or a min/max range", id="both"
        ),
        pytest.param({"min_count": 5, "max_count": 2}, r"range 5..2: use 0 <= min <= max", id="inverted"),
        pytest.param({"count": 0}, r"count 0: use a whole number >= 1", id="zero"),
    ],
)
def test_bad_executors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Executors(**kwargs)


def test_missing_application_and_bad_memory() -> None:
    with pytest.raises(ValueError, match="needs `application`"):
        build_spark_application(
            cpu_pod(),
            name="s",
            main_application_file="",
            driver=DRIVER,
            executor=EXECUTOR,
            executors=Executors(count=1),
        )
    with pytest.raises(ValueError, match="memory '4 GB' is not a Kubernetes memory quantity"):
        spark_memory("4 GB")
