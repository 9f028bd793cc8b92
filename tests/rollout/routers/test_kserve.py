# ruff: noqa: F811 - the stand-in API fixtures are imported, then named as test arguments
"""The KServe router against the stand-in Kubernetes API (real HTTP, the provider's KubernetesHook through an
Airflow connection), with a scripted KServe controller filling the status: the bodies sent are the
hand-written ones in tests/fixtures/rollout_k8s/kserve_requests.json, and the split comes from the status."""

from __future__ import annotations

import json

import pytest

from airflow_aiinfra.errors import KubePermanentError, KubeTransientError, RouterPermanentError
from airflow_aiinfra.rollout.routers.kserve import KServeRouter
from airflow_aiinfra.rollout.traffic import SlotState, Split
from tests.conftest import ROOT
from tests.support import crds
from tests.support.fixtures import k8s_api, k8s_conn, kubeconfig  # noqa: F401 - pytest fixtures
from tests.support.k8s_api import FakeKubeAPI
from tests.support.mesh import kserve_controller, kserve_status

EXPECTED = json.loads((ROOT / "tests/fixtures/rollout_k8s/kserve_requests.json").read_text())
AV, PLURAL, NS = "serving.kserve.io/v1beta1", "inferenceservices", "ml"
V3, V4 = ("s3://models/recsys/3", "recsys/3"), ("s3://models/recsys/4", "recsys/4")


def router(conn: str, **kw: object) -> KServeRouter:
    settings = {"kubernetes_conn_id": conn, "inference_service": "recsys", "namespace": NS,
                "model_format": "mlflow", "service_account": "model-reader", "ready_timeout_seconds": 5}
    return KServeRouter(**{**settings, **kw}, poll_seconds=0.02)


def sent(api: FakeKubeAPI, method: str, start: int = 0) -> list[object]:
    return [r.body for r in api.requests(method, f"/{PLURAL}")[start:]]


def split(stable: tuple[int, str | None], canary: tuple[int, str | None]) -> Split:
    return Split(SlotState(*stable), SlotState(*canary), header_routes_to_canary=False)


@pytest.fixture
def controlled(k8s_api: FakeKubeAPI) -> FakeKubeAPI:
    k8s_api.script(PLURAL, kserve_controller(lag=2))  # the status catches up two reads after each change
    return k8s_api


def test_a_whole_rollout_sends_exactly_the_expected_bodies(controlled: FakeKubeAPI, k8s_conn: str) -> None:
    r = router(k8s_conn)
    assert r.initial_deploy(*V3) == split((100, "recsys/3"), (0, None))
    assert sent(controlled, "POST") == [EXPECTED["create"]]
    assert crds.validate(controlled.get(AV, PLURAL, "recsys", NS)) == []  # stored object, status included

    assert r.deploy_canary(*V4, 20) == split((80, "recsys/3"), (20, "recsys/4"))
    assert sent(controlled, "PATCH") == [EXPECTED["deploy_canary"], EXPECTED["weight_20"]]

    assert r.set_canary_weight(50) == split((50, "recsys/3"), (50, "recsys/4"))
    assert r.set_canary_weight(50).canary_weight == 50  # reads first: the second call sends nothing
    assert r.deploy_canary(*V4, 50).canary_weight == 50  # a retried deploy of the same version: nothing either
    assert sent(controlled, "PATCH", 2) == [EXPECTED["weight_50"]]

    assert r.set_canary_weight(100) == split((0, "recsys/3"), (100, "recsys/4"))  # the last step: still a canary
    assert r.promote(*V4) == split((100, "recsys/4"), (0, None))
    assert r.promote(*V4) == split((100, "recsys/4"), (0, None))  # promote after promote: no-op
    assert sent(controlled, "PATCH", 3) == [EXPECTED["weight_100"], EXPECTED["promote"]]
    stored = controlled.get(AV, PLURAL, "recsys", NS)
    assert "canaryTrafficPercent" not in stored["spec"]["predictor"]  # merge-patch null removed it
    assert stored["status"]["components"]["predictor"]["traffic"][0]["revisionName"] == "recsys-predictor-00002"
    assert crds.validate(stored) == []


def test_rollback_twice_is_safe_and_pins_traffic_to_the_rolled_out_revision(
    controlled: FakeKubeAPI, k8s_conn: str
) -> None:
    r = router(k8s_conn)
    r.initial_deploy(*V3)
    r.deploy_canary(*V4, 20)
    before = len(sent(controlled, "PATCH"))
    assert r.rollback() == split((100, "recsys/3"), (0, "recsys/4"))
    assert r.rollback() == split((100, "recsys/3"), (0, "recsys/4"))
    assert sent(controlled, "PATCH", before) == [EXPECTED["rollback"]]
    traffic = controlled.get(AV, PLURAL, "recsys", NS)["status"]["components"]["predictor"]["traffic"]
    assert [(t["revisionName"], t["percent"]) for t in traffic] == [("recsys-predictor-00001", 100),
                                                                    ("recsys-predictor-00002", 0)]


def test_the_split_is_read_from_status_not_from_the_spec(k8s_api: FakeKubeAPI, k8s_conn: str) -> None:
    body = {**EXPECTED["create"], "spec": {"predictor": {**EXPECTED["deploy_canary"]["spec"]["predictor"],
                                                         "canaryTrafficPercent": 20}}}
    body["metadata"] = {**body["metadata"], "annotations": {"aiinfra.io/stable-version": "recsys/3",
                                                            "aiinfra.io/canary-version": "recsys/4"}}
    k8s_api.put(AV, PLURAL, body, NS)
    # someone (or KServe, holding traffic on a revision not ready yet) made the real split 70/30
    k8s_api.set_status(AV, PLURAL, "recsys", kserve_status([("r-1", 70, False), ("r-2", 30, True)]), NS)
    r = router(k8s_conn, ready_timeout_seconds=1)
    assert r.read() == split((70, "recsys/3"), (30, "recsys/4"))
    # the spec already asks for 20: nothing is sent, and since the status never shows 20 the task fails
    # as retryable, naming what it waited for and what it saw
    with pytest.raises(KubeTransientError, match=r"canary revision at 20 % not reached.*r-2 at 30%"):
        r.set_canary_weight(20)
    assert sent(k8s_api, "PATCH") == []


def test_weight_changed_from_outside_is_what_the_router_acts_on(controlled: FakeKubeAPI, k8s_conn: str) -> None:
    r = router(k8s_conn)
    r.initial_deploy(*V3)
    r.deploy_canary(*V4, 20)
    path = f"/apis/{AV}/namespaces/{NS}/{PLURAL}/recsys"
    controlled.handle("PATCH", path, EXPECTED["weight_50"], "application/merge-patch+json")  # kubectl, say
    start = len(sent(controlled, "PATCH"))
    assert r.read().canary_weight == 20  # KServe has not applied it yet, and the status says so
    assert r.set_canary_weight(50).canary_weight == 50  # the spec already asks 50: no patch, wait for the status
    assert sent(controlled, "PATCH", start) == []


def test_errors_name_the_object_and_map_to_retryable_or_permanent(k8s_api: FakeKubeAPI, k8s_conn: str) -> None:
    r = router(k8s_conn)
    with pytest.raises(KubePermanentError, match=r"InferenceService ml/recsys \(connection k8s_fake\) does not exist"):
        r.read()
    with pytest.raises(RouterPermanentError, match="KServe cannot read 'models:/recsys/3'"):
        r.initial_deploy("models:/recsys/3", "recsys/3")
    k8s_api.fail_next("GET", "/inferenceservices/recsys$", code=503)
    with pytest.raises(KubeTransientError, match="get InferenceService ml/recsys: HTTP 503"):
        r.read()
    k8s_api.put(AV, PLURAL, EXPECTED["create"], NS)
    with pytest.raises(KubeTransientError, match="reports no traffic yet"):
        r.read()
    with pytest.raises(RouterPermanentError, match="no canary revision to give 20 %"):
        r.set_canary_weight(20)
    k8s_api.set_status(AV, PLURAL, "recsys", {**kserve_status([("r-1", 100, True)]), "deploymentMode": "RawDeployment"},
                       NS)
    with pytest.raises(RouterPermanentError, match="runs in RawDeployment mode, where KServe ignores canaryTraffic"):
        r.read()


def test_a_patch_the_crd_refuses_is_a_permanent_error(controlled: FakeKubeAPI, k8s_conn: str) -> None:
    r = router(k8s_conn, model_format="mlflow")
    r.initial_deploy(*V3)
    with pytest.raises(KubePermanentError, match="HTTP 422"):  # the stand-in validates writes, like the server
        r.objects.patch("recsys", {"spec": {"predictor": {"canaryTrafficPercent": "twenty"}}})


def test_the_factory_builds_it_from_the_spec_block_without_type() -> None:
    from airflow_aiinfra.rollout.routers.factory import router_for
    from airflow_aiinfra.spec.model.routers import KServeRouter as KServeSpec

    block = KServeSpec(type="kserve", inference_service="recsys").model_dump()
    built = router_for(block.pop("type"), block)
    assert isinstance(built, KServeRouter) and built.ready_timeout_seconds == 600
    assert built.describe() == "kserve InferenceService default/recsys (connection kubernetes_default)"
