"""``distributed:`` and ``spark:`` on a stage: defaults, and located errors for what the job kind cannot run
(the bad-spec corpus, tests/fixtures/bad_specs/6*.yaml, holds the topology rules)."""

from __future__ import annotations

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.load import load_spec_text

SPEC = """
name: d
training_pipeline:
  stages:
    - name: s
      image: img
{extra}
"""


def stage(extra: str):
    text = SPEC.replace("{extra}", "\n".join("      " + line for line in extra.strip("\n").splitlines()))
    return load_spec_text(text, "d.yaml").spec.training_pipeline.stages[0]


def test_defaults_follow_the_gpus() -> None:
    gpu = stage("command: [python, t.py]\nresources: {gpu: 4}\ndistributed: {framework: pytorch, nodes: 2}")
    d = gpu.distributed
    assert (d.procs(4), d.backend_for(4), d.job, gpu.pool_slots) == (4, "nccl", "trainjob", 8)
    cpu = stage("command: [python, t.py]\ndistributed: {framework: pytorch, nodes: 3}")
    assert (cpu.distributed.procs(0), cpu.distributed.backend_for(0), cpu.pool_slots, cpu.pool_name("g")) == (
        1, "gloo", 1, None)
    spark = stage("spark: {application: a.py, executors: 3, executor: {gpu: 1}}")
    assert (spark.spark.executors.count, spark.pool_slots, spark.pool_name("g")) == (3, 3, "g")


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        pytest.param("command: [python, t.py]\npriority_class: high\ndistributed: {framework: pytorch, nodes: 2}",
                     r"stages\[0\]\.priority_class: priority_class 'high' cannot be set on a TrainJob.*job: pytorchjob",
                     id="trainjob-priority-class"),
        pytest.param("command: [python, t.py]\nsecrets: [{secret: all, env: X}]\n"
                     "distributed: {framework: pytorch, nodes: 2}",
                     r"stages\[0\]\.secrets\[0\]: secret 'all' is exposed as all of its keys", id="trainjob-envfrom"),
        pytest.param("command: [torchrun, t.py]\ndistributed: {framework: pytorch, nodes: 2}",
                     r"stages\[0\]\.command: the stage command .* already starts torchrun", id="already-torchrun"),
        pytest.param("command: [python, a.py]\nspark: {application: a.py}",
                     r"stages\[0\]\.command: a spark stage runs spark.application", id="spark-command"),
        pytest.param("resources: {cpu: '2'}\nspark: {application: a.py}",
                     r"stages\[0\]\.resources: a spark stage's resources are spark.driver and spark.executor",
                     id="spark-resources"),
        pytest.param("spark: {application: a.jar, type: Scala}",
                     r"spark\.type: a Scala application needs spark.main_class", id="scala-main-class"),
        pytest.param("spark: {application: a.py, conf: {spark.executor.memory: 4g}}",
                     r"spark\.conf\.spark\.executor\.memory: .* set from the stage's spark.executor.memory",
                     id="conf-owned-key"),
        pytest.param("spark: {application: a.py, conf: {sql.shuffle: 4}}",
                     r"'sql.shuffle' is not a Spark setting", id="conf-not-spark"),
        pytest.param("spark: {application: a.py, executors: {min: 2}}",
                     r"spark\.executors: range min=2 max=None: give both", id="half-range"),
        pytest.param("command: [python, t.py]\ndistributed: {framework: tensorflow, nodes: 2}",
                     r"distributed\.framework: 'tensorflow' is not allowed; use one of 'pytorch'", id="framework"),
    ],
)
def test_what_a_job_cannot_run_is_a_located_error(extra: str, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        stage(extra)
    assert all(i.file == "d.yaml" and i.line > 1 for i in info.value.issues)
