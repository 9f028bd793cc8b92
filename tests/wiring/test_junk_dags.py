"""Every junk variant of the example spec that loads also builds its Airflow DAGs: Airflow's own checks
(tag length, param defaults, ...) must be caught by the spec, never at DAG construction."""

from __future__ import annotations

import yaml

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.plan import build_plans
from airflow_aiinfra.spec.load import load_spec_text
from tests.conftest import ROOT
from tests.spec.test_no_traceback import JUNK, paths, replaced


def test_every_junk_variant_that_loads_also_builds_its_dags() -> None:
    from airflow_aiinfra.wiring.dag import build_dag

    data = yaml.safe_load((ROOT / "specs" / "recsys.yaml").read_text())
    built = 0
    for path in paths(data):
        for junk in JUNK:
            text = yaml.safe_dump(replaced(data, path, junk), allow_unicode=True, sort_keys=False)
            try:
                plans = build_plans(load_spec_text(text, "junk.yaml"))
            except SpecError:
                continue
            for plan in plans:
                build_dag(plan)
                built += 1
    assert built > 20
