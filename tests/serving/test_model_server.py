"""The model server: MLflow's scoring app per slot with version-labelled metrics, the X-Model-Version
header, the admin API (hot swap with zero failed requests under load), readiness and the request log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from email.message import Message
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from airflow_aiinfra.errors import ServingPermanentError, ServingTransientError
from airflow_aiinfra.serving import names
from airflow_aiinfra.serving.app import build_app
from airflow_aiinfra.serving.client import ModelServerClient
from airflow_aiinfra.serving.config import ADMIN_TOKEN_ENV, ServerConfig, parse_args
from airflow_aiinfra.serving.loadgen import LoadGenerator
from airflow_aiinfra.serving.metrics import SlotMetrics
from airflow_aiinfra.serving.slot import ModelSlot, label_for
from tests.serving.conftest import ServingStack
from tests.support.models import request_body, sample_bodies
from tests.support.serving import count_delta, free_port, request_counts, scrape


def post(url: str, body: bytes) -> tuple[int, Message, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers, json.loads(r.read())


# --- against the running servers ------------------------------------------------------------------------
@pytest.mark.integration
def test_scoring_answers_name_the_version_and_are_counted_by_it(serving_stack: ServingStack) -> None:
    stack = serving_stack
    stack.reset()
    status, headers, body = post(stack.canary.url + "/invocations", request_body([0.1, 0.9, 0.3, 0.4]))
    assert status == 200 and body == {"predictions": [1]}
    assert headers[names.VERSION_HEADER] == stack.registry.label("good2")
    with urllib.request.urlopen(stack.stable.url + "/ready") as r:
        assert json.load(r) == {"slot": "stable", "ready": True, "model_version": "recsys/1"}
    served = stack.client("stable").model()
    # the stable slot was started on the alias: the registry resolved it once, the version is what is served
    assert (served.slot, served.model_version, served.loading, served.last_error) == ("stable", "recsys/1", False, None)

    canary = stack.registry.label("good2")
    metrics = scrape(stack.canary.url + "/metrics")
    labels = (("model_version", canary), ("slot", "canary"), ("status", "200"))
    assert metrics[("aiinfra_model_requests_total", labels)] >= 1
    buckets = sorted(float(dict(lb)["le"]) for (name, lb), _ in metrics.items()
                     if name == "aiinfra_model_request_duration_seconds_bucket" and dict(lb)["model_version"] == canary)
    assert buckets == sorted([*names.DURATION_BUCKETS, float("inf")])
    assert any(name == "aiinfra_model_info" for name, _ in metrics)  # its values: test_the_info_gauge_...
    # only scoring is counted: readiness probes and scrapes do not dilute the error rate
    assert not any(name == "aiinfra_model_requests_total" and dict(lb)["model_version"] == "none"
                   for (name, lb) in metrics)


@pytest.mark.integration
def test_loading_versions_under_load_drops_nothing(serving_stack: ServingStack) -> None:
    stack = serving_stack
    stack.reset(stable_weight=50, canary_weight=50)
    canary = stack.client("canary")
    before = request_counts(stack.stable, stack.canary)
    with LoadGenerator(stack.scoring_url, rate=150, bodies=sample_bodies()) as load:
        time.sleep(1)
        for variant in ("good", "good2", "slow", "good2"):
            result = canary.load(stack.registry.uri(variant))
            assert result.changed and result.model.model_version == stack.registry.label(variant)
            # from now on every answer of the canary names the new version
            assert post(stack.canary.url + "/invocations", request_body([0.5] * 4))[1][names.VERSION_HEADER] \
                == stack.registry.label(variant)
            time.sleep(1)
        assert not canary.load(stack.registry.uri("good2")).changed  # same version again: a no-op
    stats = load.stats
    assert stats.failed == 0, stats.summary()
    assert {"recsys/1", "recsys/2", "recsys/4"} <= set(stats.by_version), stats.summary()
    served = count_delta(before, request_counts(stack.stable, stack.canary))
    assert {status for (_, _, status) in served} == {"200"}, served
    assert sum(served.values()) == stats.sent + 4  # + the four direct requests above


@pytest.mark.integration
def test_load_errors_keep_the_served_model(serving_stack: ServingStack) -> None:
    stack = serving_stack
    stack.reset()
    canary = stack.client("canary")
    with pytest.raises(ServingPermanentError, match=r"HTTP 404 .*recsys.*99.*not found"):
        canary.load("models:/recsys/99")
    with pytest.raises(ServingPermanentError, match="HTTP 400 .*alias no_such_alias not found"):
        canary.load("models:/recsys@no_such_alias")
    served = canary.model()  # still serving what it served, and saying what went wrong
    assert served.model_version == "recsys/2" and "no_such_alias" in (served.last_error or "")
    with pytest.raises(ServingTransientError, match="unreachable"):
        ModelServerClient(f"http://127.0.0.1:{free_port()}", timeout=2).model()


@pytest.mark.integration
def test_request_log_samples_requests_into_hourly_files(serving_stack: ServingStack) -> None:
    stack = serving_stack
    stack.reset(stable_weight=100, canary_weight=0)
    time.sleep(0.2)  # answers to earlier tests' requests are logged when they end
    started = datetime.now(UTC)
    with LoadGenerator(stack.scoring_url, rate=100, bodies=sample_bodies(), duration=2.0) as load:
        stats = load.wait()
    ended = datetime.now(UTC)
    time.sleep(0.5)  # the writer thread flushes when its queue is empty
    records = [json.loads(line) for path in sorted((stack.request_log_dir / "stable").glob("*.jsonl"))
               for line in path.read_text().splitlines()]
    mine = [r for r in records if started.isoformat() <= r["ts"] <= ended.isoformat()]
    assert stats.ok == 200 and 0.1 * stats.ok <= len(mine) <= 0.3 * stats.ok  # sample rate 0.2: 40 ± 3 sigma
    hour = started.strftime("%Y%m%d%H")
    assert (stack.request_log_dir / "stable" / f"{hour}.jsonl").exists()
    r = mine[-1]
    assert set(r) == {"ts", "slot", "model_version", "status", "latency_ms", "request", "response"}
    assert r["slot"] == "stable" and r["model_version"] == "recsys/1" and r["status"] == 200
    assert r["request"]["dataframe_split"]["columns"] == ["a", "b", "c", "d"] and "predictions" in r["response"]


# --- in this process: the empty slot and the admin token (no model, no MLflow import) ---------------------
@pytest.fixture
def empty_app() -> TestClient:
    slot = ModelSlot("canary")
    return TestClient(build_app(slot, SlotMetrics("canary", CollectorRegistry())))


def test_an_empty_slot_is_not_ready_and_says_how_to_fill_it(empty_app: TestClient) -> None:
    assert empty_app.get("/ready").status_code == 503
    response = empty_app.post("/invocations", content=request_body([0.1] * 4))
    assert response.status_code == 503 and "POST /admin/load" in response.json()["error"]
    assert empty_app.get("/admin/model").json()["model_version"] is None
    assert empty_app.post("/admin/load", json={"model": "x"}).status_code == 400
    assert empty_app.get("/metrics").status_code == 200


def test_admin_api_needs_the_token_when_one_is_set(empty_app: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "t0ken")
    assert empty_app.get("/admin/model").status_code == 401
    assert empty_app.post("/admin/load", json={"model_uri": "models:/recsys/1"}).status_code == 401
    assert empty_app.get("/admin/model", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    assert empty_app.get("/ready").status_code == 503  # readiness stays open for HAProxy and probes


def test_the_info_gauge_names_only_the_version_served_now() -> None:
    """1 for what the slot serves, 0 for what it served before; every new version's series start at 0."""
    metrics = SlotMetrics("canary", CollectorRegistry())

    def served(version: str) -> SimpleNamespace:
        return SimpleNamespace(version=version)

    def info() -> dict[str, float]:
        return {s.labels["model_version"]: s.value for s in metrics.info.collect()[0].samples}

    metrics.swapped(None, served("recsys/2"))
    assert info() == {"recsys/2": 1}
    metrics.swapped(served("recsys/2"), served("recsys/1"))
    assert info() == {"recsys/2": 0, "recsys/1": 1}
    metrics.swapped(served("recsys/1"), served("recsys/1"))  # a forced reload of the same version
    assert info() == {"recsys/2": 0, "recsys/1": 1}
    requests = {(s.labels["model_version"], s.labels["status"]): s.value
                for s in metrics.requests.collect()[0].samples if s.name.endswith("_total")}
    assert requests == {("recsys/2", "200"): 0, ("recsys/1", "200"): 0}


@pytest.mark.parametrize(
    ("text", "label"),
    [
        pytest.param("recsys/3", "recsys/3", id="plain"),
        pytest.param("runs:/abc/model", "runs:/abc/model", id="run-uri"),
        pytest.param("a b\r\nX-Evil: 1", "a_b__X-Evil:_1", id="header-injection"),
    ],
)
def test_version_labels_are_header_safe(text: str, label: str) -> None:
    assert label_for(text) == label


def test_command_line_round_trips_and_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    config = ServerConfig(slot="canary", port=8002, model_uri="models:/recsys@champion", sample_rate=0.05)
    assert parse_args(config.argv()) == config
    with pytest.raises(SystemExit):
        parse_args(["--slot", "canary;rm", "--port", "8002"])
    assert "slot 'canary;rm' must be" in capsys.readouterr().err
    with pytest.raises(ValueError, match="sample rate 2.0 must be a fraction"):
        ServerConfig(slot="s", port=1, sample_rate=2.0)


def test_importing_for_configuration_stays_light() -> None:
    code = (
        "import sys, airflow_aiinfra.serving, airflow_aiinfra.serving.config, airflow_aiinfra.serving.client, "
        "airflow_aiinfra.serving.haproxy_config, airflow_aiinfra.serving.loadgen, airflow_aiinfra.rollout.judge, "
        "airflow_aiinfra.rollout.promql, airflow_aiinfra.rollout.analysis, airflow_aiinfra.rollout.chart; "
        "heavy = {'mlflow', 'pandas', 'fastapi', 'uvicorn', 'scipy', 'matplotlib', 'sklearn', 'airflow'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
