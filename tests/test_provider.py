"""Provider metadata: entry point, schema-valid get_provider_info(), [aiinfra] config defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow_aiinfra


def test_entry_point_points_at_get_provider_info() -> None:
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_aiinfra")]
    assert ep.load() is airflow_aiinfra.get_provider_info


def test_provider_info_matches_airflows_schema() -> None:
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(airflow_aiinfra.get_provider_info(), schema)


def test_everything_the_provider_info_names_exists() -> None:
    import importlib

    info = airflow_aiinfra.get_provider_info()
    names = [c["hook-class-name"] for c in info["connection-types"]]
    names += [p["plugin-class"] for p in info["plugins"]]
    names += [link for link in info.get("extra-links", [])]
    for dotted in names:
        module, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), dotted
    for kind in ("operators", "hooks", "sensors", "triggers"):
        for group in info.get(kind, []):
            for module in group["python-modules"]:
                importlib.import_module(module)


def test_the_provider_info_lists_every_operator_hook_sensor_and_trigger_module() -> None:
    """Complete: every public module of operators/, hooks/, sensors/, triggers/ is listed under its kind."""
    info = airflow_aiinfra.get_provider_info()
    root = Path(airflow_aiinfra.__file__).parent
    for kind in ("operators", "hooks", "sensors", "triggers"):
        listed = {m for g in info.get(kind, []) for m in g["python-modules"]}
        present = {f"airflow_aiinfra.{kind}.{p.stem}" for p in (root / kind).glob("*.py")
                   if not p.stem.startswith("_")} if (root / kind).is_dir() else set()
        helpers = {"airflow_aiinfra.operators.failures", "airflow_aiinfra.operators.pipeline_run",
                   "airflow_aiinfra.operators.samples",
                   "airflow_aiinfra.operators.local_runner"}  # shared helpers, no operator of their own
        assert listed == present - helpers, kind


def test_airflow_sees_the_config_section_and_defaults(tmp_path: Path) -> None:
    code = ("from airflow.configuration import conf; "
            "print(conf.get('aiinfra', 'runner'), conf.getint('aiinfra', 'default_run_as_user'))")
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["kubernetes", "1000"]


def test_the_rollout_is_in_the_provider_info() -> None:
    info = airflow_aiinfra.get_provider_info()
    assert {"airflow_aiinfra.operators.rollout.RolloutChartLink",
            "airflow_aiinfra.operators.rollout.PrometheusGraphLink"} <= set(info["extra-links"])
    assert "airflow_aiinfra.triggers.rollout" in {m for g in info["triggers"] for m in g["python-modules"]}
    assert "airflow_aiinfra.sensors.rollout" in {m for g in info["sensors"] for m in g["python-modules"]}
