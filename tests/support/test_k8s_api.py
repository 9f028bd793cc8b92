# ruff: noqa: F811 - the stand-in API fixtures are imported, then named as test arguments
"""The stand-in Kubernetes API behaves like the real one for the real clients and the provider's hook."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from airflow_aiinfra.distributed.topology import Topology
from airflow_aiinfra.kube.jobs import build_trainjob
from tests.support.fixtures import k8s_api, k8s_conn, kubeconfig  # noqa: F401 - pytest fixtures
from tests.support.k8s_api import FakeKubeAPI, json_patch, matches_labels, merge_patch
from tests.support.k8s_jobs import job_lifecycle
from tests.support.pods import seed_training_pod

G, V, P = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
AV = f"{G}/{V}"


def job(name: str = "train-1") -> dict:
    return build_trainjob(seed_training_pod(namespace="default"), Topology(nodes=2), name=name)


@pytest.fixture
def api(kubeconfig: Path) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig)))


def test_create_fills_metadata_drops_status_and_conflicts(k8s_api: FakeKubeAPI, api) -> None:
    body = {**job(), "status": {"conditions": []}}
    created = api.create_namespaced_custom_object(G, V, "default", P, body)
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert "status" not in created  # status subresource: ignored on create
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(G, V, "default", P, job())
    assert err.value.status == 409 and "AlreadyExists" in err.value.body
    assert [r.code for r in k8s_api.requests("POST", "/trainjobs$")] == [201, 409]


def test_invalid_body_is_rejected_like_the_server(api) -> None:
    bad = job()
    bad["spec"]["trainer"]["numProcPerNode"] = 0
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(G, V, "default", P, bad)
    assert err.value.status == 422 and "numProcPerNode must be greater than or equal to 1" in err.value.body


def test_get_list_patch_status_delete(k8s_api: FakeKubeAPI, api) -> None:
    api.create_namespaced_custom_object(G, V, "default", P, job("a"))
    api.create_namespaced_custom_object(G, V, "default", P, job("b"))
    with pytest.raises(ApiException) as err:
        api.get_namespaced_custom_object(G, V, "default", P, "missing")
    assert err.value.status == 404
    listed = api.list_namespaced_custom_object(
        G, V, "default", P, label_selector="aiinfra/stage=model_training"
    )
    assert [o["metadata"]["name"] for o in listed["items"]] == ["a", "b"]
    assert (
        api.list_namespaced_custom_object(G, V, "default", P, label_selector="aiinfra/stage in (x)")["items"]
        == []
    )
    rv = api.get_namespaced_custom_object(G, V, "default", P, "a")["metadata"]["resourceVersion"]
    patched = api.patch_namespaced_custom_object(
        G, V, "default", P, "a", {"metadata": {"labels": {"x": "1"}}, "status": {"ignored": True}}
    )
    assert patched["metadata"]["labels"]["x"] == "1" and "status" not in patched
    assert patched["metadata"]["resourceVersion"] != rv
    status = {
        "conditions": [
            {
                "type": "Complete",
                "status": "True",
                "reason": "Done",
                "message": "",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ]
    }
    api.patch_namespaced_custom_object_status(G, V, "default", P, "a", {"status": status})
    assert api.get_namespaced_custom_object(G, V, "default", P, "a")["status"] == status
    api.delete_namespaced_custom_object(G, V, "default", P, "a")
    assert k8s_api.get(AV, P, "a") is None and k8s_api.get(AV, P, "b") is not None


def test_scripted_lifecycle_and_pods_with_logs(k8s_api: FakeKubeAPI, api, kubeconfig: Path) -> None:
    k8s_api.script(
        P, job_lifecycle("TrainJob", running_polls=2, outcome="Failed", reason="BackoffLimitExceeded")
    )
    api.create_namespaced_custom_object(G, V, "default", P, job())
    k8s_api.add_pod(
        "train-1-node-0-0",
        labels={"jobset.sigs.k8s.io/jobset-name": "train-1"},
        logs={"node": "rank0 line\n"},
        owner=(P, "train-1"),
    )
    seen = [
        api.get_namespaced_custom_object(G, V, "default", P, "train-1")["status"]["conditions"]
        for _ in range(3)
    ]
    assert (
        seen[0] == seen[1] == []
        and seen[2][0]["type"] == "Failed"
        and seen[2][0]["reason"] == "BackoffLimitExceeded"
    )
    core = client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))
    pods = core.list_namespaced_pod("default", label_selector="jobset.sigs.k8s.io/jobset-name=train-1").items
    assert [p.metadata.name for p in pods] == ["train-1-node-0-0"]
    # As the provider reads logs (the client's preloaded str of a text body is a repr of bytes).
    raw = core.read_namespaced_pod_log(
        "train-1-node-0-0", "default", container="node", _preload_content=False
    )
    assert raw.data.decode() == "rank0 line\n"
    api.delete_namespaced_custom_object(G, V, "default", P, "train-1")
    assert core.list_namespaced_pod("default").items == []  # owned pods go with their job


def test_the_providers_hook_through_an_airflow_connection(k8s_api: FakeKubeAPI, k8s_conn: str) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=k8s_conn)
    hook.create_custom_object(G, V, P, job(), namespace="default")
    assert hook.get_custom_object(G, V, P, "train-1", namespace="default")["metadata"]["name"] == "train-1"
    hook.delete_custom_object(G, V, P, "train-1", namespace="default")
    assert [(r.method, r.code) for r in k8s_api.requests(path="trainjobs")] == [
        ("POST", 201),
        ("GET", 200),
        ("DELETE", 200),
    ]


def test_async_client_and_injected_faults(k8s_api: FakeKubeAPI, kubeconfig: Path) -> None:
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig

    k8s_api.put(AV, P, job())
    k8s_api.fail_next("GET", "/trainjobs/train-1$", code=503)

    async def read() -> list[int]:
        codes = []
        async with await aconfig.new_client_from_config(str(kubeconfig)) as api_client:
            api = aclient.CustomObjectsApi(api_client)
            for _ in range(2):
                try:
                    await api.get_namespaced_custom_object(G, V, "default", P, "train-1")
                    codes.append(200)
                except aclient.ApiException as exc:
                    codes.append(exc.status)
        return codes

    assert asyncio.run(read()) == [503, 200]


def test_patch_semantics() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]}) == {
        "a": {"c": 2, "e": 3},
        "d": [2],
    }
    doc = {"metadata": {"labels": {"a/b": "1"}}, "items": [1, 2]}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/metadata/labels/a~1c", "value": "2"},
            {"op": "replace", "path": "/items/0", "value": 9},
            {"op": "remove", "path": "/items/1"},
        ],
    )
    assert out == {"metadata": {"labels": {"a/b": "1", "a/c": "2"}}, "items": [9]}
    with pytest.raises(ValueError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/items/0", "value": 5}])


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("a=1", True),
        ("a==1,b", True),
        ("a!=1", False),
        ("c!=1", True),
        ("a in (1,2)", True),
        ("a notin (1)", False),
        ("!c", True),
        ("!b", False),
        ("b in (x, y),a=1", True),
        ("", True),
    ],
)
def test_label_selectors(selector: str, expected: bool) -> None:
    assert matches_labels({"a": "1", "b": "x"}, selector) is expected
