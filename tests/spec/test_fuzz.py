"""The loader and validator under fuzzing (tests/spec/fuzz_specs.py), in a subprocess: a segfault or a hang
there fails this test instead of killing pytest. Fixed seeds, so a failure reproduces with the same command."""

from __future__ import annotations

import resource
import subprocess
import sys

from tests.conftest import ROOT


def _guard() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))


def test_fuzzed_specs_are_valid_or_located_errors() -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.spec.fuzz_specs", "--examples", "300", "--mutations", "8000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=_guard)
    assert proc.returncode == 0, (proc.stdout[-6000:] + proc.stderr[-3000:])
    assert "0 failures" in proc.stdout
