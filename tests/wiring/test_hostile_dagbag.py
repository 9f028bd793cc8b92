"""The worst hostile specs beside good ones in one parse unit, parsed by Airflow's own DagBag in a subprocess
(a crash there would lose the unit): every good DAG is present, every hostile spec is a placeholder DAG, and
the unit has no import error."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, ROOT

WORST = ["15_nested_flow_60000", "18_alias_bomb_billion_laughs", "19_anchor_1mib_150k_aliases",
         "23_retries_5000_digits", "30_python_tag_on_key", "33_3000_dependency_typos", "37_description_3mib",
         "01_template_power_bomb", "03_template_include", "14_template_deep_parens", "64_jwt_in_env"]


def _spec_text(stem: str) -> bytes:
    folder = FIXTURES / "hostile_specs"
    plain = folder / f"{stem}.yaml"
    return plain.read_bytes() if plain.exists() else gzip.decompress((folder / f"{stem}.yaml.gz").read_bytes())


def test_hostile_specs_never_cost_the_good_ones_their_dags(tmp_path: Path) -> None:
    dags, specs = tmp_path / "dags", tmp_path / "specs"
    dags.mkdir()
    specs.mkdir()
    shutil.copy(ROOT / "dags" / "aiinfra_dags.py", dags)
    shutil.copy(ROOT / "specs" / "recsys.yaml", specs / "recsys.yaml")
    shutil.copy(FIXTURES / "seed_spec.yaml", specs / "seed.yaml")
    for stem in WORST:
        (specs / f"{stem}.yaml").write_bytes(_spec_text(stem))
    (specs / "bad_utf8.yaml").write_bytes(b"name: x\n\xff\xfe\n")
    script = f"""
import json, os, sys
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(dags)!r})
broken = sorted(d for d, dag in bag.dags.items() if "aiinfra:broken-spec" in dag.tags)
print(json.dumps({{"dags": sorted(bag.dags), "broken": broken, "errors": bag.import_errors}}))
"""
    env = {"PATH": str(Path(sys.executable).parent), "AIRFLOW_HOME": str(tmp_path / "home"),
           "AIRFLOW__AIINFRA__SPECS_FOLDER": str(specs)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert {"recsys__pipeline", "recsys__materialize", "seed__pipeline"} <= set(result["dags"])
    assert not {"recsys__pipeline", "seed__pipeline"} & set(result["broken"])
    assert len(result["broken"]) == len(WORST) + 1  # one placeholder per hostile file
