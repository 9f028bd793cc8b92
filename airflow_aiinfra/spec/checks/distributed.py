"""A stage's ``distributed:`` / ``spark:``: one kind per stage, a topology that adds up and fits the GPUs,
and nothing the chosen job kind cannot express (the builders would refuse it when the DAG is built)."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.distributed.launch import script_argv
from airflow_aiinfra.distributed.topology import Parallelism, Topology
from airflow_aiinfra.spec.checks.common import Issue
from airflow_aiinfra.spec.model.training import Stage
from airflow_aiinfra.spec.yaml_loader import Path

# Spark settings the spec's own keys own: conf may not set them behind the spec's back.
SPARK_OWNED_CONF = {
    "spark.driver.memory": "the stage's spark.driver.memory",
    "spark.driver.cores": "the stage's spark.driver.cpu",
    "spark.driver.memoryOverhead": "the stage's spark.driver.memory_overhead",
    "spark.executor.memory": "the stage's spark.executor.memory",
    "spark.executor.cores": "the stage's spark.executor.cpu",
    "spark.executor.memoryOverhead": "the stage's spark.executor.memory_overhead",
    "spark.executor.instances": "the stage's spark.executors",
    "spark.dynamicAllocation.enabled": "the stage's spark.executors (a {min, max} range)",
    "spark.dynamicAllocation.minExecutors": "the stage's spark.executors.min",
    "spark.dynamicAllocation.maxExecutors": "the stage's spark.executors.max",
    "spark.master": "the runner (the Spark operator on a cluster, local[N] under the local runner)",
}


def stage_issues(stage: Stage, path: Path) -> Iterator[Issue]:
    if stage.distributed is not None and stage.spark is not None:
        yield (*path, "spark"), (
            "a stage is one pod, a distributed job or a Spark application, never two: remove `distributed` or "
            "`spark` (make them two stages)"
        )
        return
    if stage.distributed is not None:
        yield from _distributed(stage, path)
    if stage.spark is not None:
        yield from _spark(stage, path)


def _distributed(stage: Stage, path: Path) -> Iterator[Issue]:
    d = stage.distributed
    assert d is not None
    at = (*path, "distributed")
    gpu = stage.resources.gpu
    procs = d.procs(gpu)
    if gpu and procs > gpu:
        yield (*at, "procs_per_node"), (
            f"{procs} processes per node but the stage has {gpu} GPUs per node (resources.gpu): at most one "
            f"process per GPU; set procs_per_node to {gpu} or less, or raise resources.gpu"
        )
    if d.backend == "nccl" and not gpu:
        yield (*at, "backend"), "backend 'nccl' needs GPUs and the stage has none (resources.gpu): use gloo"
    if d.parallelism is not None:
        p = d.parallelism
        try:
            Topology(nodes=d.nodes, procs_per_node=procs,
                     parallelism=Parallelism(data=p.data, tensor=p.tensor, pipeline=p.pipeline))
        except ValueError as exc:
            default = f" (procs_per_node defaults to the {gpu} GPUs per node)" if d.procs_per_node is None and gpu else ""
            yield (*at, "parallelism"), f"{exc}{default}"
    if d.runtime is not None and d.job != "trainjob":
        yield (*at, "runtime"), f"runtime {d.runtime!r} is for job: trainjob only; remove it for job: {d.job}"
    try:
        script_argv(stage.command, stage.args)
    except ValueError as exc:
        yield ((*path, "command") if stage.command else at), str(exc)
    if d.job == "trainjob":
        if stage.priority_class:
            yield (*path, "priority_class"), (
                f"priority_class {stage.priority_class!r} cannot be set on a TrainJob (its runtime patch has no "
                "priorityClassName): set it in the training runtime, or use `job: pytorchjob`"
            )
        for j, s in enumerate(stage.secrets):
            if s.env is not None and s.key is None:
                yield (*path, "secrets", j), (
                    f"secret {s.secret!r} is exposed as all of its keys, which a TrainJob cannot express (only "
                    "per-key env): list each key with `key:` and `env:`, or use `job: pytorchjob`"
                )


def _spark(stage: Stage, path: Path) -> Iterator[Issue]:
    sp = stage.spark
    assert sp is not None
    at = (*path, "spark")
    for key in ("command", "args"):
        if getattr(stage, key):
            yield (*path, key), (
                f"a spark stage runs spark.application with spark.arguments, not `{key}`: move it there"
            )
    if "resources" in stage.model_fields_set:
        yield (*path, "resources"), (
            "a spark stage's resources are spark.driver and spark.executor (cpu, memory, memory_overhead, gpu): "
            "move them there"
        )
    if sp.type in ("Scala", "Java") and not sp.main_class:
        yield (*at, "type"), f"a {sp.type} application needs spark.main_class (the class with main())"
    for key in sp.conf:
        if key in SPARK_OWNED_CONF:
            yield (*at, "conf", key), f"{key} is set from {SPARK_OWNED_CONF[key]}; remove it from conf"
        elif not key.startswith("spark."):
            yield (*at, "conf", key), f"{key!r} is not a Spark setting (spark-submit ignores keys not starting 'spark.')"
