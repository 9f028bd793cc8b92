"""Offline CRD validation behaves like the API server: schema semantics, CEL checks, and the doc."""

from __future__ import annotations

import copy

import pytest

from tests.support import cel_rules, crds

VS = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "model", "namespace": "ml"},
    "spec": {
        "hosts": ["model"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "model", "subset": "v1"}, "weight": 80},
                    {"destination": {"host": "model", "subset": "v2"}, "weight": 20},
                ],
                "timeout": "2s",
            }
        ],
    },
}


def test_every_fixture_crd_loads_and_kinds_resolve() -> None:
    kinds = {c.kind for c in crds.all_crds()}
    assert {
        "TrainJob",
        "PyTorchJob",
        "SparkApplication",
        "InferenceService",
        "VirtualService",
        "DestinationRule",
        "ClusterTrainingRuntime",
    } <= kinds
    with pytest.raises(KeyError, match="served at several versions"):
        crds.crd("VirtualService")
    with pytest.raises(KeyError, match="no CRD for kind 'Nope'"):
        crds.crd("Nope")


def test_a_serving_object_validates_and_cel_catches_a_bad_duration() -> None:
    assert crds.validate(VS) == []
    bad = copy.deepcopy(VS)
    bad["spec"]["http"][0]["corsPolicy"] = {"maxAge": "0.1ms"}
    assert any("CEL rule \"duration(self) >= duration('1ms')\"" in e for e in crds.check(bad).errors)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param(lambda o: o["spec"].update(gateways=3), "is not of type 'array'", id="type"),
        pytest.param(
            lambda o: o["spec"]["http"][0].update(retry={"attempts": 1}),
            "'retry' was unexpected",
            id="unknown",
        ),
        pytest.param(
            lambda o: o["metadata"].update(labels={"a": "has space"}), "does not match", id="label-value"
        ),
        pytest.param(lambda o: o["metadata"].update(name="Upper"), "does not match", id="name"),
        pytest.param(
            lambda o: o["metadata"].update(nickname="x"), "'nickname' was unexpected", id="metadata-field"
        ),
    ],
)
def test_schema_is_strict_like_the_server(change, error: str) -> None:
    obj = copy.deepcopy(VS)
    change(obj)
    assert any(error in e for e in crds.check(obj).errors), crds.check(obj).errors


def test_int_or_string_preserve_unknown_and_list_map_keys() -> None:
    from airflow_aiinfra.distributed.topology import Topology
    from airflow_aiinfra.kube.jobs import build_pytorchjob
    from tests.support.pods import seed_training_pod

    job = build_pytorchjob(seed_training_pod(), Topology(nodes=2), name="j")
    c = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    c["resources"]["limits"]["nvidia.com/gpu"] = 2  # an integer quantity is fine (int-or-string)
    assert crds.check(job).ok
    c["resources"]["limits"]["cpu"] = "four"
    assert any("does not match" in e for e in crds.check(job).errors)
    c["resources"]["limits"]["cpu"] = "4"
    c["env"].append(dict(c["env"][0]))  # env is a list-map keyed by name
    assert any("duplicate entries for key {'name': 'WORLD_SIZE'}" in e for e in crds.check(job).errors)


def test_transition_rules_apply_on_update_only() -> None:
    from airflow_aiinfra.distributed.topology import Topology
    from airflow_aiinfra.kube.jobs import build_trainjob
    from tests.support.pods import seed_training_pod

    old = build_trainjob(seed_training_pod(), Topology(nodes=2), name="j")
    new = copy.deepcopy(old)
    new["spec"]["trainer"]["numNodes"] = 3
    assert crds.check(new).ok  # a create
    assert any("field is immutable" in e for e in crds.check(new, old=old).errors)  # an update


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h2m", 3720.0), ("1.5s", 1.5), ("100ms", 0.1), ("0", 0.0), ("2us", 2e-6), ("-1s", -1.0)],
)
def test_duration(text: str, seconds: float) -> None:
    assert cel_rules.duration_seconds(text) == pytest.approx(seconds)


def test_at_most_one_family() -> None:
    check = cel_rules.check_for(
        "(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1"
    )
    assert (
        check is not None
        and check({"selector": {}}, None)
        and not check({"selector": {}, "targetRef": {}}, None)
    )
    assert cel_rules.check_for("has(self.wasm) != has(self.lua)") is None


def test_checks_agree_with_a_real_cel_evaluator() -> None:
    """cel-python is not in the lock (see docs/crd_validation.md); when present, it is the referee."""
    celpy = pytest.importorskip("celpy")
    cases = {
        "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')": [
            {"metadata": {"name": n}} for n in ("a-1", "A", "1a")
        ],
        "size(self.metadata.name) <= 63": [{"metadata": {"name": "x" * n}} for n in (63, 64)],
        "self >= 1": [0, 1, 5],
        "0 < self && self <= 65535": [0, 80, 65536],
        '!self.contains("*")': ["a", "*.b"],
        "self.all(key, key.size() != 0)": [{"a": "1"}, {"": "1"}],
    }
    env = celpy.Environment()
    for rule, values in cases.items():
        program = env.program(env.compile(rule))
        for value in values:
            expected = bool(program.evaluate({"self": celpy.json_to_cel(value)}))
            assert cel_rules.check_for(rule)(value, cel_rules.MISSING) is expected, (rule, value)


def test_the_unchecked_rules_doc_is_current() -> None:
    assert crds.DOC_PATH.read_text() == crds.rules_doc(), (
        "docs/crd_validation.md is stale: python -m tests.support.crds > docs/crd_validation.md"
    )
