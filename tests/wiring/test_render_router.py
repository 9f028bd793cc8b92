"""``aiinfra render`` shows a KServe or Istio router's objects and patch bodies (the seed's serving block)."""

from __future__ import annotations

import yaml

from airflow_aiinfra.spec.model.serving import ModelServing
from airflow_aiinfra.wiring.render import router_objects_of
from tests.support import crds

SEED_SERVING = {
    "versions": [{"version": "v1.0", "weight": 80}, {"version": "v1.1", "weight": 20, "canary": True}],
    "routing_rules": [{"condition": "user_type == 'premium'", "target_version": "v1.1"},
                      {"condition": "default", "target_version": "v1.0"}],
}


def serving(router: dict) -> ModelServing:
    return ModelServing.model_validate({**SEED_SERVING, "rollout": {"steps": [20, 100], "router": router}})


def test_istio_render_shows_the_objects_and_each_patch() -> None:
    chunks = router_objects_of(serving({
        "type": "istio", "virtual_service": "recsys", "destination_rule": "recsys", "host": "recsys.ml.svc",
        "stable_url": "http://recsys-stable:8000", "canary_url": "http://recsys-canary:8000"}))
    docs = [yaml.safe_load(c) for c in chunks]
    assert [d.get("kind") for d in docs[:2]] == ["DestinationRule", "VirtualService"]
    assert all(crds.validate(d) == [] for d in docs[:2])
    assert docs[1]["spec"]["http"][0]["match"] == [{"headers": {"x-user-type": {"exact": "premium"}}}]
    assert [c.splitlines()[0] for c in chunks[2:]] == [
        "# merge patch of the istio router: deploy_canary: canary drained while its model server loads",
        "# merge patch of the istio router: canary weight 20 %",
        "# merge patch of the istio router: canary weight 100 %",
        "# merge patch of the istio router: promote: all traffic on the canary while stable reloads",
        "# merge patch of the istio router: promote/rollback: all traffic on stable, header route to stable",
    ]


def test_kserve_render_shows_the_inference_service_and_haproxy_none() -> None:
    chunks = router_objects_of(serving({"type": "kserve", "inference_service": "recsys", "model_format": "sklearn"}))
    isvc = yaml.safe_load(chunks[0])
    assert isvc["kind"] == "InferenceService" and crds.validate(isvc) == []
    assert isvc["spec"]["predictor"]["model"]["runtime"] == "kserve-mlserver"
    assert len(chunks) == 1 + 1 + 2 + 2  # deploy, two weights, promote, rollback
    assert router_objects_of(serving({"type": "haproxy"})) == [] and router_objects_of(None) == []
