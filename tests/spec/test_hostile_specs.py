"""Hostile specs: each file of tests/fixtures/hostile_specs/ (a `.yaml`, or a `.yaml.gz` for the big ones) with
its exact expected output beside it (`.expected[.gz]`: the error lines, `{file}` for the file as shown, or `OK`).

Each runs `aiinfra validate` in its own process under a time and memory guard well above what validation
needs (a hang or a blow-up fails the case; these are guards, not timing assertions): nothing evaluated,
nothing echoed, no crash, every problem one located line."""

from __future__ import annotations

import gzip
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

CORPUS = FIXTURES / "hostile_specs"
CASES = sorted({p.name.split(".")[0] for p in CORPUS.iterdir() if ".yaml" in p.name})
TIME_GUARD_S = 60
MEMORY_GUARD = 2 * 1024**3  # address space of the validating process (pydantic and yaml need ~300 MiB)


def _read(stem: str, kind: str) -> bytes:
    plain, packed = CORPUS / f"{stem}.{kind}", CORPUS / f"{stem}.{kind}.gz"
    return plain.read_bytes() if plain.exists() else gzip.decompress(packed.read_bytes())


def _guard() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_GUARD, MEMORY_GUARD))


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("stem", CASES)
def test_hostile_spec(stem: str, tmp_path: Path) -> None:
    spec = tmp_path / f"{stem}.yaml"
    spec.write_bytes(_read(stem, "yaml"))
    proc = subprocess.run([sys.executable, "-m", "airflow_aiinfra.cli", "validate", "-q", spec.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIME_GUARD_S, preexec_fn=_guard)
    expected = _read(stem, "expected").decode().replace("{file}", spec.name).splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    if expected == ["OK"]:
        assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout[-2000:]
    else:
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert proc.stdout.splitlines() == expected
