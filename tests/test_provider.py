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
    for group in info["operators"]:
        for module in group["python-modules"]:
            importlib.import_module(module)


def test_airflow_sees_the_config_section_and_defaults(tmp_path: Path) -> None:
    code = ("from airflow.configuration import conf; "
            "print(conf.get('aiinfra', 'runner'), conf.getint('aiinfra', 'default_run_as_user'))")
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["kubernetes", "1000"]
