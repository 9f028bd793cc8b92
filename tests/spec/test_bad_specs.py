"""The bad-spec corpus: every broken spec yields exactly the expected located errors, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.load import load_spec
from tests.conftest import FIXTURES, ROOT

CASES = sorted((FIXTURES / "bad_specs").glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CASES])
def test_bad_spec_gives_exact_errors(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(SpecError) as info:
        load_spec(path.relative_to(ROOT))
    assert [str(i) for i in info.value.issues] == expected
    for line in expected:  # file:line:col: path: message
        assert line.startswith(f"{path.relative_to(ROOT)}:")


def test_validate_cli_prints_every_error_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_aiinfra.cli", "validate", "-q", "tests/fixtures/bad_specs", "specs"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    expected = [line for p in CASES for line in p.with_suffix(".expected").read_text().splitlines()]
    assert proc.stdout.splitlines() == expected


def test_validate_cli_exits_zero_on_valid_specs() -> None:
    proc = subprocess.run([sys.executable, "-m", "airflow_aiinfra.cli", "validate", "specs", "tests/fixtures/seed_spec.yaml"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "specs/recsys.yaml: ok" in proc.stderr
