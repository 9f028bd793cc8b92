"""The drift and decay checks read only data locations, checked on the rendered, resolved paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_aiinfra.errors import DataLocationRefused
from airflow_aiinfra.operators.drift import data_locations


def test_rendered_paths_are_checked_where_they_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "window.parquet").write_bytes(b"")
    (tmp_path / "labels.parquet").symlink_to("/proc/self/environ")
    data_locations(str(tmp_path / "window.parquet"), "window.parquet", None)
    with pytest.raises(DataLocationRefused, match=r"resolves to /proc/.*environ, under /proc") as refused:
        data_locations("window.parquet", "labels.parquet")
    assert "PATH=" not in str(refused.value)  # the environment is named, never read
    with pytest.raises(DataLocationRefused, match="a Python file"):
        data_locations(str(Path(__file__)))
