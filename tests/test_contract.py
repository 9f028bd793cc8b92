"""The plan→operator contract: every kind has one builder and one payload type, every payload field is an
explicit keyword parameter of its operator (never swallowed by **kwargs), and workers can import the
contract without pydantic or Airflow."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

from airflow_aiinfra.contract import PAYLOAD_TYPES, Payload, StagePayload, TaskKind
from airflow_aiinfra.plan.model import TaskPlan
from airflow_aiinfra.wiring.builders import BUILDERS


def explicit_parameters(operator: type) -> set[str]:
    """Keyword parameters named in the ``__init__`` of the operator or of any class it inherits from."""
    names: set[str] = set()
    for klass in operator.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                names.add(p.name)
    return names


def test_every_kind_has_exactly_one_builder_and_one_payload_type() -> None:
    assert set(BUILDERS) == set(TaskKind)
    assert set(PAYLOAD_TYPES) == set(TaskKind)
    assert len(set(PAYLOAD_TYPES.values())) == len(TaskKind)


@pytest.mark.parametrize("kind", list(TaskKind))
def test_every_payload_field_is_an_explicit_keyword_of_its_operator(kind: TaskKind) -> None:
    payload = PAYLOAD_TYPES[kind]
    assert dataclasses.is_dataclass(payload) and issubclass(payload, Payload)
    operator = BUILDERS[kind].operator
    missing = {f.name for f in dataclasses.fields(payload)} - explicit_parameters(operator)
    assert missing == set(), f"{operator.__name__} takes {sorted(missing)} only through **kwargs"


@pytest.mark.parametrize("kind", list(TaskKind))
def test_payload_fields_are_plain_data(kind: TaskKind) -> None:
    """Airflow templates and serializes operator attributes: payloads hold JSON-able values only."""
    import types
    import typing

    allowed = (str, int, float, bool, type(None), list, dict)
    for field in dataclasses.fields(PAYLOAD_TYPES[kind]):
        hint = typing.get_type_hints(PAYLOAD_TYPES[kind])[field.name]
        for arg in typing.get_args(hint) or (hint,):
            for leaf in typing.get_args(arg) if isinstance(arg, types.UnionType) else (arg,):  # str | int values
                origin = typing.get_origin(leaf) or leaf
                assert origin in allowed or typing.is_typeddict(origin), (field.name, leaf)


def test_a_task_refuses_a_payload_of_another_kind() -> None:
    with pytest.raises(TypeError, match="payload must be GatePayload"):
        TaskPlan(task_id="data_quality.g", kind=TaskKind.DQ_GATE, payload=StagePayload())


def test_the_contract_imports_nothing_heavy() -> None:
    code = ("import sys, airflow_aiinfra.contract; "
            "print(sorted(m for m in ('pydantic', 'airflow', 'yaml', 'kubernetes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
