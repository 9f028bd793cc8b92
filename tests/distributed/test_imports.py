"""Parse-time cost: the distributed modules import neither torch nor pyspark, and the operator
module imports no Kubernetes client (it is built when the task runs)."""

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
]
HEAVY = [
    "torch",
    "pyspark",
    "kubernetes_asyncio",
    "kubernetes.client",
]  # psutil, jsonschema: Airflow loads them


def test_no_heavy_imports_at_module_level() -> None:
    code = (
        f"import importlib, json, sys\nfor m in {MODULES!r}: importlib.import_module(m)\n"
        f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
