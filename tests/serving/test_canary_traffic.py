"""Traffic through real HAProxy to two real model servers, under steady load with no retries: weight
changes on the runtime API move the split with zero failed requests, header-matched requests always reach
the canary, and maintenance sends them back to stable. Failures are counted at the client (the load
generator), at the servers (their own /metrics) and at HAProxy (its Prometheus exporter)."""

from __future__ import annotations

import time

import pytest

from airflow_aiinfra.serving.loadgen import LoadGenerator
from tests.serving.conftest import BACKEND, PREMIUM, ServingStack
from tests.support.models import sample_bodies
from tests.support.serving import count_delta, request_counts, scrape

pytestmark = pytest.mark.integration

RATE, PREMIUM_RATE, PHASE_S = 150, 20, 3.0


def haproxy_failures(stack: ServingStack) -> float:
    """5xx answers and connection errors HAProxy itself counted on the backend."""
    metrics = scrape(stack.exporter_url)
    total = 0.0
    for (name, labels), value in metrics.items():
        d = dict(labels)
        if d.get("proxy") != BACKEND:
            continue
        if name == "haproxy_backend_http_responses_total" and d.get("code") == "5xx":
            total += value
        if name in ("haproxy_backend_connection_errors_total", "haproxy_backend_response_errors_total"):
            total += value
    return total


def test_weight_changes_under_load_move_the_split_and_fail_nothing(serving_stack: ServingStack) -> None:
    stack = serving_stack
    stack.reset()
    stable, canary = stack.registry.label("good"), stack.registry.label("good2")
    servers_before, haproxy_before = request_counts(stack.stable, stack.canary), haproxy_failures(stack)
    bodies = sample_bodies()
    with LoadGenerator(stack.scoring_url, rate=RATE, bodies=bodies) as load, \
            LoadGenerator(stack.scoring_url, rate=PREMIUM_RATE, bodies=bodies, headers=PREMIUM) as premium:
        for canary_weight in (20, 50, 100, 5, 0):
            stack.router.set_weight(BACKEND, "canary", canary_weight)
            stack.router.set_weight(BACKEND, "stable", 100 - canary_weight)
            assert stack.router.weights(BACKEND) == {"stable": 100 - canary_weight, "canary": canary_weight}
            time.sleep(0.2)  # requests already queued at the old split
            load.snapshot(reset=True), premium.snapshot(reset=True)
            time.sleep(PHASE_S)
            phase, vip = load.snapshot(reset=True), premium.snapshot(reset=True)
            assert phase.failed == 0 and vip.failed == 0, (phase.summary(), vip.summary())
            assert abs(phase.share(canary) - canary_weight / 100) <= 0.05, (canary_weight, phase.summary())
            if canary_weight in (0, 100):
                assert phase.share(canary) == canary_weight / 100, phase.summary()
            assert vip.ok > 0 and vip.by_version == {canary: vip.ok}, vip.summary()
    client = load.stats
    assert client.failed == 0 and premium.stats.failed == 0, (client.summary(), premium.stats.summary())
    assert client.by_version[stable] > 0 and client.by_version[canary] > 0
    served = count_delta(servers_before, request_counts(stack.stable, stack.canary))
    assert {status for (_, _, status) in served} == {"200"}, served
    assert sum(served.values()) == client.sent + premium.stats.sent
    assert haproxy_failures(stack) == haproxy_before


def test_header_rule_follows_the_canary_state(serving_stack: ServingStack) -> None:
    """ready/drain: premium requests reach the canary even at weight 0; maint: everything goes to stable
    (the rollback position) and nothing fails on the way."""
    stack = serving_stack
    stack.reset(stable_weight=100, canary_weight=0)
    stable, canary = stack.registry.label("good"), stack.registry.label("good2")
    bodies = sample_bodies()
    with LoadGenerator(stack.scoring_url, rate=RATE, bodies=bodies) as load, \
            LoadGenerator(stack.scoring_url, rate=PREMIUM_RATE * 2, bodies=bodies, headers=PREMIUM) as premium:
        for state, premium_to in (("ready", canary), ("drain", canary), ("maint", stable), ("ready", canary)):
            stack.router.set_state(BACKEND, "canary", state)
            assert stack.router.servers(BACKEND)["canary"].admin == state
            time.sleep(0.2)
            load.snapshot(reset=True), premium.snapshot(reset=True)
            time.sleep(1.5)
            phase, vip = load.snapshot(reset=True), premium.snapshot(reset=True)
            assert phase.by_version == {stable: phase.ok} and phase.failed == 0, (state, phase.summary())
            assert vip.by_version == {premium_to: vip.ok} and vip.failed == 0, (state, vip.summary())
    assert load.stats.failed == 0 and premium.stats.failed == 0
