"""Every junk variant of the example spec that loads also builds its Airflow DAGs: Airflow's own checks
(tag length, param defaults, ...) must be caught by the spec, never at DAG construction."""

from __future__ import annotations

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.spec.load import load_spec_text
from tests.spec.test_no_traceback import SPECS, junk_variants


@pytest.mark.parametrize("spec_path", [pytest.param(p, id=p.name) for p in SPECS])
def test_every_junk_variant_that_loads_also_builds_its_dags(spec_path) -> None:
    from airflow_aiinfra.wiring.dag import build_dag

    built = 0
    for _, text in junk_variants(spec_path):
        try:
            plans = build_plans(load_spec_text(text, "junk.yaml"))
        except SpecError:
            continue
        for plan in plans:
            build_dag(plan)
            built += 1
    assert built > 10
