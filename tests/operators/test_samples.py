"""Every sample value on its way to a log or XCom passes airflow_aiinfra.operators.samples.for_output."""

from __future__ import annotations

import json

import pytest

from airflow_aiinfra.operators.samples import for_output

SECRET = "pw-5c1e8a2f9b7d4e60"
REPORT = {"status": "fail", "features": [{"feature": "v:f", "checked": 3, "mismatches": 1,
                                          "examples": [{"entity": {"id": "1"}, "online": repr(SECRET)}]}]}


def test_consistency_examples_are_masked() -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(SECRET)
    out = json.dumps(for_output(REPORT))
    assert SECRET not in out and "***" in out


def test_samples_off_drops_examples_keeps_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIINFRA__DATA_SAMPLES", "False")
    (feature,) = for_output(REPORT)["features"]
    assert feature == {"feature": "v:f", "checked": 3, "mismatches": 1}
