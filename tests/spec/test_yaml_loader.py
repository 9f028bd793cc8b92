"""Safe YAML: positions, duplicate keys, dates as strings, anchors/merge keys, no object tags."""

from __future__ import annotations

import pytest

from airflow_aiinfra.errors import SpecError
from airflow_aiinfra.spec.yaml_loader import format_path, load_yaml


def test_positions_and_strings_stay_as_written() -> None:
    doc = load_yaml("a:\n  when: 2024-01-01\n  v: v1.10\n  items:\n    - x: 1\n", "f.yaml")
    assert doc.data == {"a": {"when": "2024-01-01", "v": "v1.10", "items": [{"x": 1}]}}
    assert doc.key_marks[("a", "when")] == (2, 3)
    assert doc.value_marks[("a", "when")] == (2, 9)
    assert doc.locate(("a", "items", 0, "x")) == (5, 10, ("a", "items", 0, "x"))


def test_anchors_and_merge_keys_are_allowed_and_explicit_keys_win() -> None:
    doc = load_yaml("base: &b {cpu: '1', memory: 1Gi}\nstage:\n  <<: *b\n  cpu: '2'\n", "f.yaml")
    assert doc.data["stage"] == {"cpu": "2", "memory": "1Gi"}


def test_list_of_single_key_maps_is_located_by_key() -> None:
    doc = load_yaml("consistency:\n  - check_interval: 1h\n  - tolerance: 0.1\n", "f.yaml")
    assert doc.locate(("consistency", "tolerance"))[:2] == (3, 16)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("a: 1\na: 2\n", r"f.yaml:2:1: a: duplicate key 'a' \(first written at line 1\)", id="duplicate"),
        pytest.param("a: !!python/object/apply:os.system [ls]\n", r"f.yaml:1:4: a: YAML tag .*python/object/apply",
                     id="python-tag"),
        pytest.param("a: !!binary aGVsbG8=\n", r"YAML tag .*binary.* is not allowed", id="binary-tag"),
        pytest.param("a: [1\n", r"f.yaml:2:1: <yaml>: YAML syntax error", id="syntax"),
        pytest.param("a: 1\n---\nb: 2\n", r"one YAML document", id="two-documents"),
        pytest.param(
            "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            r"more than 200000 nodes", id="alias-bomb"),
    ],
)
def test_rejected_documents(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        load_yaml(text, "f.yaml")


def test_format_path() -> None:
    assert format_path(("training_pipeline", "stages", 1, "resources", "memory")) == (
        "training_pipeline.stages[1].resources.memory")
