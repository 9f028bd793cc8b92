"""One rule for "a GPU stage fits its pool", used by the spec check and by `aiinfra pools` alike:
``defaults.gpu_pool_slots`` sizes ``defaults.gpu_pool`` only; any other pool is sized in Airflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.load import load_spec
from airflow_aiinfra.wiring.pools import pool_needs

SPEC = """\
name: gpus
defaults: {{gpu_pool_slots: 8}}
training_pipeline:
  stages:
    - {{name: train, image: x, resources: {{gpu: "{gpu}"}}{pool}}}
"""


def _write(tmp_path: Path, gpu: int, pool: str | None) -> Path:
    path = tmp_path / f"gpus_{gpu}_{pool}.yaml"
    path.write_text(SPEC.format(gpu=gpu, pool=f", pool: {pool}" if pool else ""))
    return path


@pytest.mark.parametrize(("gpu", "pool"), [
    pytest.param(16, "a100", id="custom-pool-bigger-than-default-slots"),
    pytest.param(4, "a100", id="custom-pool"),
    pytest.param(8, None, id="default-pool-exactly-full"),
    pytest.param(16, None, id="default-pool-too-small"),
    pytest.param(16, "aiinfra_gpu", id="default-pool-named-explicitly"),
])
def test_spec_check_and_pools_command_agree(tmp_path: Path, gpu: int, pool: str | None) -> None:
    path = _write(tmp_path, gpu, pool)
    needs, errors = pool_needs([str(path)])
    try:
        load_spec(path)
        spec_rejects = False
    except SpecError as exc:
        spec_rejects = True
        assert "has only 8 slots (defaults.gpu_pool_slots)" in str(exc)
    # `aiinfra pools` reports the spec's error as it is, or sizes the pool from the same rule
    assert bool(errors) == spec_rejects
    if not spec_rejects:
        (need,) = needs.values()
        assert need.name == (pool or "aiinfra_gpu")
        assert need.declared == (8 if need.name == "aiinfra_gpu" else None)
        assert need.largest == gpu


def test_a_custom_pool_is_not_sized_to_the_default_pools_slots(tmp_path: Path) -> None:
    """The bug this rule fixed: `pool: a100, gpu: 16` was rejected for 8 slots that only the default pool has."""
    needs, errors = pool_needs([str(_write(tmp_path, 16, "a100"))])
    assert errors == []
    assert needs["a100"].declared is None and needs["a100"].largest == 16


@pytest.mark.parametrize(("nodes", "fits"), [pytest.param(4, True, id="4x2-fits-8"), pytest.param(5, False, id="5x2")])
def test_a_distributed_job_takes_nodes_times_gpus_slots(tmp_path: Path, nodes: int, fits: bool) -> None:
    """GPU pools count the whole job, in the spec check and in `aiinfra pools` alike."""
    path = tmp_path / "dist.yaml"
    path.write_text("name: gpus\ndefaults: {gpu_pool_slots: 8}\ntraining_pipeline:\n  stages:\n"
                    "    - {name: train, image: x, command: [python, t.py], resources: {gpu: 2},\n"
                    f"       distributed: {{framework: pytorch, nodes: {nodes}}}}}\n")
    needs, errors = pool_needs([str(path)])
    if fits:
        assert errors == [] and needs["aiinfra_gpu"].largest == 8
        load_spec(path)
    else:
        assert needs == {} and "asks for 10 GPUs (5 nodes × 2 GPUs)" in errors[0]


def test_a_rollout_gets_a_one_slot_pool_per_serving_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_aiinfra.wiring.pools import sync_pools

    path = tmp_path / "recsys.yaml"
    path.write_text(Path(__file__).resolve().parents[2].joinpath("specs", "recsys.yaml").read_text())
    needs, errors = pool_needs([str(path)])
    assert not errors
    pool = needs["aiinfra_rollout__haproxy_aiinfra_router.model_serving"]
    assert pool.largest == 1 and any("rollout.analyze_20" in u for u in pool.users)
    assert sync_pools([str(path)], dry_run=True) == 0
    assert "pool aiinfra_rollout__haproxy_aiinfra_router.model_serving: would set 1 slots" in capsys.readouterr().out
