"""Parse-time cost: the distributed modules import neither torch nor pyspark, the operator module
imports no Kubernetes client (it is built when the task runs), and loading and planning a spec with
distributed and Spark stages imports none of them either."""

from __future__ import annotations

import json
import subprocess
import sys

MODULES = [
    "airflow_aiinfra.distributed.topology",
    "airflow_aiinfra.distributed.launch",
    "airflow_aiinfra.kube.jobs",
    "airflow_aiinfra.kube.spark",
    "airflow_aiinfra.kube.verdict",
    "airflow_aiinfra.runners.torchrun",
    "airflow_aiinfra.runners.spark",
    "airflow_aiinfra.operators.training_job",
    "airflow_aiinfra.triggers.training_job",
    "airflow_aiinfra.spec.model.distributed",
    "airflow_aiinfra.spec.checks.distributed",
    "airflow_aiinfra.plan.distributed",
    "airflow_aiinfra.operators.distributed",
]
SPEC = """
name: d
training_pipeline:
  stages:
    - {name: t, image: x, command: [python, t.py], resources: {gpu: 2}, distributed: {framework: pytorch, nodes: 2}}
    - {name: s, image: x, spark: {application: a.py, executors: {min: 1, max: 4}}}
"""
HEAVY = [
    "torch",
    "pyspark",
    "kubernetes_asyncio",
    "kubernetes.client",
]  # psutil, jsonschema: Airflow loads them


def test_no_heavy_imports_at_module_level() -> None:
    code = (
        f"import importlib, json, sys\nfor m in {MODULES!r}: importlib.import_module(m)\n"
        "from airflow_aiinfra.spec.load import load_spec_text\nfrom airflow_aiinfra.plan.build import build_plans\n"
        f"assert [t.kind for t in build_plans(load_spec_text({SPEC!r}))[0].tasks] == ['distributed_job', 'spark']\n"
        f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
