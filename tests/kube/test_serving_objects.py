"""The KServe and Istio objects and patches are valid for the published CRDs (schema and the CEL rules that
apply), before and after each patch; routing conditions translate to Istio matches or are refused by name."""

from __future__ import annotations

import pytest

from airflow_aiinfra.errors import RouterExpressionError
from airflow_aiinfra.kube import serving_objects as so
from airflow_aiinfra.serving.mesh_routes import (
    istio_expressible,
    istio_match_blocks,
    kserve_expressible,
    render_router_objects,
    render_router_patches,
)
from tests.support import crds
from tests.support.k8s_api import merge_patch

KSERVE = {"type": "kserve", "kubernetes_conn_id": "k8s", "inference_service": "recsys", "namespace": "ml",
          "model_format": "mlflow", "service_account": "model-reader", "ready_timeout_seconds": 600}
ISTIO = {"type": "istio", "kubernetes_conn_id": "k8s", "namespace": "ml", "virtual_service": "recsys",
         "destination_rule": "recsys-slots", "host": "recsys.ml.svc.cluster.local", "subset_label": "aiinfra.io/slot",
         "model_server_conn_id": "admin", "stable_url": "http://stable:8000", "canary_url": "http://canary:8000",
         "ready_timeout_seconds": 600}
ROUTES = ["user_type == 'premium'", "region in ['eu-west', 'eu.north'] and not tier == 'free'"]


def test_kserve_objects_and_every_patch_stay_valid_for_the_crd() -> None:
    [isvc] = render_router_objects(KSERVE, model_uri="s3://models/recsys/3", version="recsys/3")
    assert crds.validate(isvc) == []
    obj = isvc
    for what, body in render_router_patches(KSERVE, steps=[5, 25, 50, 100], model_uri="s3://models/recsys/4",
                                            version="recsys/4"):
        obj = merge_patch(obj, body)
        assert crds.validate(obj, old=isvc) == [], what
    assert "canaryTrafficPercent" in obj["spec"]["predictor"]  # the last body is the rollback (0)


@pytest.mark.parametrize(("model_format", "name", "runtime"), [
    pytest.param("mlflow", "mlflow", "kserve-mlserver", id="mlflow-mlserver"),
    pytest.param("sklearn", "sklearn", "kserve-mlserver", id="sklearn-mlserver"),
    pytest.param("tensorflow", "tensorflow", "kserve-tensorflow-serving", id="tf-serving"),
    pytest.param("pytorch", "pytorch", "kserve-torchserve", id="torchserve"),
])
def test_the_model_format_picks_the_runtime(model_format: str, name: str, runtime: str) -> None:
    isvc = so.inference_service(name="m", namespace="ml", model_format=model_format, storage_uri="gs://b/m",
                                version="m/1")
    model = isvc["spec"]["predictor"]["model"]
    assert (model["modelFormat"]["name"], model["runtime"]) == (name, runtime)
    assert crds.validate(isvc) == []


def test_kserve_refuses_registry_uris() -> None:
    with pytest.raises(ValueError, match="KServe cannot read 'models:/m/1'"):
        so.kserve_model("mlflow", "models:/m/1")


def test_istio_objects_and_every_patch_stay_valid_for_the_crds() -> None:
    rule, vs = render_router_objects(ISTIO, routes=ROUTES)
    assert rule["spec"]["subsets"] == [{"name": "stable", "labels": {"aiinfra.io/slot": "stable"}},
                                       {"name": "canary", "labels": {"aiinfra.io/slot": "canary"}}]
    assert crds.validate(rule) == [] and crds.validate(vs) == []
    header, weighted = vs["spec"]["http"]
    assert header["name"] == so.HEADER_ROUTE and len(header["match"]) == 3  # premium, or one per region
    for what, body in render_router_patches(ISTIO, steps=[5, 50, 100], routes=ROUTES):
        patched = merge_patch(vs, body)
        assert crds.validate(patched, old=vs) == [], what
        state = so.istio_state(patched)
        assert state.stable_weight + state.canary_weight == 100 and state.managed
    assert so.istio_state(merge_patch(vs, body)) == so.IstioState(0, 100, False, True)  # the last: all stable


def test_without_header_rules_there_is_only_the_weighted_route() -> None:
    _, vs = render_router_objects(ISTIO, canary_weight=20)
    assert [r["name"] for r in vs["spec"]["http"]] == [so.WEIGHTED_ROUTE]
    assert so.istio_state(vs) == so.IstioState(20, 80, False, True)
    assert crds.validate(vs) == []


@pytest.mark.parametrize(("condition", "blocks"), [
    pytest.param("user_type == 'premium'", [{"headers": {"x-user-type": {"exact": "premium"}}}], id="exact"),
    pytest.param("'premium' == user_type", [{"headers": {"x-user-type": {"exact": "premium"}}}], id="reversed"),
    pytest.param("user_type == 'a' and beta_user != 'no'",
                 [{"headers": {"x-user-type": {"exact": "a"}}, "withoutHeaders": {"x-beta-user": {"exact": "no"}}}],
                 id="conjunction-one-block"),
    pytest.param("user_type == 'a' or user_type == 'b'",
                 [{"headers": {"x-user-type": {"exact": "a"}}}, {"headers": {"x-user-type": {"exact": "b"}}}],
                 id="disjunction-blocks"),
    pytest.param("user_type in ['a', 'b']",
                 [{"headers": {"x-user-type": {"exact": "a"}}}, {"headers": {"x-user-type": {"exact": "b"}}}],
                 id="in-list"),
    pytest.param("user_type not in ['a.b', 'c']", [{"withoutHeaders": {"x-user-type": {"regex": "a\\.b|c"}}}],
                 id="not-in-escaped-regex"),
    pytest.param("not (user_type == 'a' or tier == 'b')",
                 [{"withoutHeaders": {"x-user-type": {"exact": "a"}, "x-tier": {"exact": "b"}}}], id="de-morgan"),
])
def test_istio_expresses(condition: str, blocks: list[dict]) -> None:
    assert istio_expressible(condition) is None
    assert istio_match_blocks(condition) == blocks


@pytest.mark.parametrize(("condition", "message"), [
    pytest.param("age > 30", "ordering comparison '>' cannot be expressed", id="ordering"),
    pytest.param("tier == 1", "only with string literals, not 1", id="number"),
    pytest.param("tier == other", "only with string literals, not name other", id="two-names"),
    pytest.param("tier == 'a b'", "characters outside", id="unsafe-literal"),
    pytest.param("tier == 'a\"}'", "characters outside", id="injection"),
    pytest.param("tier == 'a' and tier == 'b'", "cannot test header x-tier twice", id="same-header-twice"),
    pytest.param("beta", "not on a bare name", id="bare-name"),
    pytest.param("x-y == 'a'", "unexpected", id="syntax"),
])
def test_istio_refuses_by_name(condition: str, message: str) -> None:
    error = istio_expressible(condition)
    assert error is not None and error.startswith("router istio: ") and message in error
    with pytest.raises(RouterExpressionError):
        istio_match_blocks(condition)


def test_kserve_refuses_every_header_rule_and_accepts_default() -> None:
    assert kserve_expressible("default") is None and istio_expressible("default") is None
    assert "router kserve has no header routing" in (kserve_expressible("user_type == 'premium'") or "")


def test_haproxy_renders_no_kubernetes_objects() -> None:
    assert render_router_objects({"type": "haproxy", "conn_id": "x"}) == []
