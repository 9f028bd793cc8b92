# ruff: noqa: F811 - the stand-in API fixtures are imported, then named as test arguments
"""The Istio router against the stand-in Kubernetes API (the provider's KubernetesHook through an Airflow
connection) and two stand-in model servers (the admin API over HTTP): the bodies sent are the hand-written
ones in tests/fixtures/rollout_k8s/istio_requests.json; the split is the VirtualService as stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from airflow_aiinfra.errors import KubePermanentError, KubeTransientError, RouterPermanentError
from airflow_aiinfra.rollout.routers.istio import IstioRouter
from airflow_aiinfra.rollout.traffic import SlotState, Split
from tests.conftest import ROOT
from tests.support import crds
from tests.support.fixtures import k8s_api, k8s_conn, kubeconfig  # noqa: F401 - pytest fixtures
from tests.support.k8s_api import FakeKubeAPI
from tests.support.mesh import FakeModelServer

EXPECTED = json.loads((ROOT / "tests/fixtures/rollout_k8s/istio_requests.json").read_text())
AV, NS, HOST = "networking.istio.io/v1", "ml", "recsys.ml.svc.cluster.local"
VS = f"/apis/{AV}/namespaces/{NS}/virtualservices/recsys"
TOKEN = "s3cret-admin-token"
V3, V4 = ("models:/recsys/3", "recsys/3"), ("models:/recsys/4", "recsys/4")


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakeModelServer]]:
    monkeypatch.setenv("AIRFLOW_CONN_RECSYS_ADMIN", json.dumps({"conn_type": "http", "password": TOKEN}))
    out = {slot: FakeModelServer(slot, TOKEN) for slot in ("stable", "canary")}
    yield out
    for s in out.values():
        s.stop()


def router(conn: str, servers: dict[str, FakeModelServer], **kw: object) -> IstioRouter:
    settings = {"kubernetes_conn_id": conn, "namespace": NS, "virtual_service": "recsys", "destination_rule": "recsys",
                "host": HOST, "subset_label": "aiinfra.io/slot", "model_server_conn_id": "recsys_admin",
                "stable_url": servers["stable"].url, "canary_url": servers["canary"].url, "ready_timeout_seconds": 5,
                "header_conditions": ["user_type == 'premium'"]}
    return IstioRouter(**{**settings, **kw})


def patches(api: FakeKubeAPI, start: int = 0) -> list[object]:
    return [r.body for r in api.requests("PATCH", "/virtualservices/")[start:]]


def split(stable: tuple[int, str | None], canary: tuple[int, str | None], header: bool) -> Split:
    return Split(SlotState(*stable), SlotState(*canary), header)


def test_a_whole_rollout_sends_exactly_the_expected_bodies(
    k8s_api: FakeKubeAPI, k8s_conn: str, servers: dict[str, FakeModelServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = router(k8s_conn, servers)
    assert r.initial_deploy(*V3) == split((100, "recsys/3"), (0, None), False)
    assert [q.body for q in k8s_api.requests("POST")] == [EXPECTED["create_destination_rule"],
                                                          EXPECTED["create_virtual_service"]]
    for kind, plural in (("VirtualService", "virtualservices"), ("DestinationRule", "destinationrules")):
        assert crds.validate(k8s_api.get(AV, plural, "recsys", NS)) == [], kind
    assert servers["stable"].loads() == ["models:/recsys/3"]

    # the canary slot was already at 0 with the header route on stable: no drain patch, load, then route
    assert r.deploy_canary(*V4, 20) == split((80, "recsys/3"), (20, "recsys/4"), True)
    assert servers["canary"].loads() == ["models:/recsys/4"]
    assert patches(k8s_api) == [EXPECTED["canary_20"]]
    assert r.set_canary_weight(20) == split((80, "recsys/3"), (20, "recsys/4"), True)  # nothing sent
    assert r.deploy_canary(*V4, 20).canary_weight == 20  # a retried deploy: no load, no patch
    assert servers["canary"].loads() == ["models:/recsys/4"] and len(patches(k8s_api)) == 1

    # promote: everything on the canary while stable reloads, then back to stable; nothing the second time
    assert r.promote(*V4) == split((100, "recsys/4"), (0, "recsys/4"), False)
    assert r.promote(*V4) == split((100, "recsys/4"), (0, "recsys/4"), False)
    assert patches(k8s_api, 1) == [EXPECTED["canary_100"], EXPECTED["all_stable"]]
    assert servers["stable"].loads() == ["models:/recsys/3", "models:/recsys/4"]
    assert crds.validate(k8s_api.get(AV, "virtualservices", "recsys", NS)) == []

    assert all(s.unauthorized == 0 for s in servers.values())  # the token from the connection was sent
    assert TOKEN not in caplog.text


def test_rollback_twice_is_safe(k8s_api: FakeKubeAPI, k8s_conn: str, servers: dict[str, FakeModelServer]) -> None:
    r = router(k8s_conn, servers)
    r.initial_deploy(*V3)
    r.deploy_canary(*V4, 20)
    assert r.rollback() == split((100, "recsys/3"), (0, "recsys/4"), False)
    assert r.rollback() == split((100, "recsys/3"), (0, "recsys/4"), False)
    assert patches(k8s_api, 1) == [EXPECTED["all_stable"]]


def test_redeploying_a_serving_canary_drains_it_before_its_model_changes(
    k8s_api: FakeKubeAPI, k8s_conn: str, servers: dict[str, FakeModelServer]
) -> None:
    r = router(k8s_conn, servers)
    r.initial_deploy(*V3)
    r.deploy_canary(*V4, 20)
    assert r.deploy_canary("models:/recsys/5", "recsys/5", 20) == split((80, "recsys/3"), (20, "recsys/5"), True)
    assert patches(k8s_api, 1) == [EXPECTED["all_stable"], EXPECTED["canary_20"]]


def test_the_split_is_read_from_the_virtual_service(
    k8s_api: FakeKubeAPI, k8s_conn: str, servers: dict[str, FakeModelServer]
) -> None:
    r = router(k8s_conn, servers)
    r.initial_deploy(*V3)
    r.deploy_canary(*V4, 20)
    changed = json.loads(json.dumps(EXPECTED["canary_20"]))
    weighted = changed["spec"]["http"][1]["route"]
    weighted[0]["weight"], weighted[1]["weight"] = 70, 30
    k8s_api.handle("PATCH", VS, changed, "application/merge-patch+json")  # someone edited it by hand
    start = len(patches(k8s_api))
    assert r.read() == split((70, "recsys/3"), (30, "recsys/4"), True)
    assert r.set_canary_weight(30).canary_weight == 30
    assert patches(k8s_api, start) == []


def test_errors_name_the_object_and_map_to_retryable_or_permanent(
    k8s_api: FakeKubeAPI, k8s_conn: str, servers: dict[str, FakeModelServer]
) -> None:
    r = router(k8s_conn, servers)
    with pytest.raises(KubePermanentError, match=r"VirtualService ml/recsys .*does not exist"):
        r.read()
    r.initial_deploy(*V3)
    k8s_api.fail_next("PATCH", "/virtualservices/recsys$", code=503)
    with pytest.raises(KubeTransientError, match="patch VirtualService ml/recsys: HTTP 503"):
        r.deploy_canary(*V4, 20)
    assert r.deploy_canary(*V4, 20).canary_weight == 20  # the retry continues from the real state
    with pytest.raises(RouterPermanentError, match="connection 'nope'.*does not exist"):
        router(k8s_conn, servers, model_server_conn_id="nope").read()


def test_a_virtual_service_the_router_did_not_create_is_left_alone(
    k8s_api: FakeKubeAPI, k8s_conn: str, servers: dict[str, FakeModelServer]
) -> None:
    foreign = {"apiVersion": AV, "kind": "VirtualService", "metadata": {"name": "recsys"},
               "spec": {"hosts": [HOST], "http": [{"route": [{"destination": {"host": "other"}}]}]}}
    k8s_api.put(AV, "virtualservices", foreign, NS)
    with pytest.raises(RouterPermanentError, match="was not created by this router"):
        router(k8s_conn, servers).initial_deploy(*V3)
    assert patches(k8s_api) == []


def test_the_factory_builds_it_from_the_spec_block_plus_the_plans_header_conditions() -> None:
    from airflow_aiinfra.rollout.routers.factory import router_for
    from airflow_aiinfra.spec.model.routers import IstioRouter as IstioSpec

    block = IstioSpec(type="istio", virtual_service="recsys", destination_rule="recsys", host=HOST,
                      stable_url="http://s:8000", canary_url="http://c:8000").model_dump()
    built = router_for(block.pop("type"), {**block, "header_conditions": ["user_type == 'premium'"]})
    assert isinstance(built, IstioRouter)
    assert built.header_matches == [{"headers": {"x-user-type": {"exact": "premium"}}}]
