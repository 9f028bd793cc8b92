"""``data_quality``: gate names and stage references, and expectation names and arguments against
``gx_expectations.json`` (generated from GX by scripts/gen_gx_expectations.py), so a typo is a located spec
error with a "did you mean" while nothing imports great_expectations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Any

from airflow_aiinfra.locations import lexical_problem
from airflow_aiinfra.spec.checks.common import Issue
from airflow_aiinfra.spec.model.quality import Gate
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.suggest import Suggestions, did_you_mean
from airflow_aiinfra.spec.types import shown
from airflow_aiinfra.spec.yaml_loader import Path
from airflow_aiinfra.sql import param_problems

CATALOG = FsPath(__file__).parent.parent / "gx_expectations.json"


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


_TYPE_WORDS = {"string": "a string", "number": "a number", "integer": "a whole number", "boolean": "true or false",
               "array": "a list", "object": "a mapping", "null": "null"}


def _type_ok(value: Any, types: list[str]) -> bool:
    for t in types:
        if t == "any":
            return True
        if t == "null" and value is None:
            return True
        if t == "boolean" and isinstance(value, bool):
            return True
        if t == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if t == "string" and isinstance(value, str):
            return True
        if t == "array" and isinstance(value, list):
            return True
        if t == "object" and isinstance(value, dict):
            return True
    return False


def check_argument(expectation: str, arg: str, value: Any, schema: dict[str, Any]) -> str | None:
    """A message when ``value`` cannot be argument ``arg`` of ``expectation``, else None."""
    types = schema.get("type", ["any"])
    if not _type_ok(value, types):
        # "object" only stands for GX suite parameters ({"$PARAMETER": ...}): not worth suggesting
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in types if t != "object" or len(types) == 1)
        return f"argument {arg!r} of {expectation} must be {want}, got {value!r}"
    enum = schema.get("enum")
    if enum is not None and isinstance(value, str) and value not in enum:
        return f"argument {arg!r} of {expectation} is {value!r}; use one of {enum}{did_you_mean(value, enum)}"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        return f"argument {arg!r} of {expectation} must be at least {schema['minimum']}, got {value!r}"
    if number and "maximum" in schema and value > schema["maximum"]:
        return f"argument {arg!r} of {expectation} must be at most {schema['maximum']}, got {value!r}"
    return None


def check_expectations(gate: Gate, base: Path, options: SpecOptions) -> Iterator[Issue]:
    cat = catalog()
    known: dict[str, Any] = cat["expectations"]
    common: dict[str, Any] = cat["common_args"]
    for i, entry in enumerate(gate.expectations):
        path = (*base, "expectations", i)
        if len(entry) != 1:
            names = ", ".join(map(repr, entry)) or "nothing"
            yield path, (f"each entry is one 'expect_name: {{arguments}}' mapping, got {names}; "
                         "start each expectation on its own '- ' line")
            continue
        name, args = next(iter(entry.items()))
        spec = known.get(name)
        if spec is None:
            if options.custom_expectations:
                continue  # registered by [aiinfra] gx_custom_expectations_module; checked when the gate runs
            hint = did_you_mean(name, known) or (
                "; see https://greatexpectations.io/expectations/ (custom expectations need "
                "[aiinfra] gx_custom_expectations_module)"
            )
            yield path, f"unknown expectation {name!r}{hint}"  # the entry's position is its key's
            continue
        args = args or {}
        allowed = {**common, **spec["args"]}
        for arg, value in args.items():
            schema = allowed.get(arg)
            if schema is None:
                hint = did_you_mean(arg, allowed, cutoff=0.5)
                if not hint:
                    hint = f"; {name} takes {', '.join(sorted(spec['args']))}"
                yield (*path, name, arg), f"unknown argument {arg!r} for {name}{hint}"
                continue
            problem = check_argument(name, arg, value, schema)
            if problem:
                yield (*path, name, arg), problem
        for arg in spec["required"]:
            if arg not in args:
                yield path, f"{name} needs argument {arg!r} (required: {', '.join(spec['required'])})"


def issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    dq = spec.data_quality
    if dq is None:
        return
    stages = {s.name for s in spec.training_pipeline.stages} if spec.training_pipeline else set()
    known = Suggestions(stages)
    seen: set[str] = set()
    for i, gate in enumerate(dq.gates):
        base: Path = ("data_quality", "gates", i)
        if gate.name in seen:
            yield (*base, "name"), f"duplicate gate name {gate.name!r}"
        seen.add(gate.name)
        for key in ("before", "after"):
            for j, name in enumerate(getattr(gate, key)):
                if name not in stages:
                    yield (*base, key, j), f"unknown stage {shown(name)}{known.hint(name)}"
        overlap = set(gate.before) & set(gate.after)
        if overlap:
            yield (*base, "after"), f"stage(s) {sorted(overlap)} are both before and after the gate; that is a cycle"
        if gate.before and gate.after and not set(gate.before) & set(gate.after):
            yield from _order_issues(spec, gate, base)
        if gate.data.query is not None:
            for param, problem in param_problems(gate.data.query, gate.data.params):
                yield (*base, "data", *(("params", param) if param else ("query",))), problem
        if gate.data.path is not None and (problem := lexical_problem(gate.data.path, options.data_roots)):
            yield (*base, "data", "path"), problem
        if gate.suite_path is not None and not gate.suite_path.split("?", 1)[0].endswith(".json"):
            yield (*base, "suite_path"), f"{gate.suite_path!r} is not a GX expectation suite file (*.json)"
        yield from check_expectations(gate, base, options)


def _order_issues(spec: Spec, gate: Gate, base: Path) -> Iterator[Issue]:
    """A gate after A and before B is a cycle when B already runs before A (B is an ancestor of A).

    One walk up the dependencies from all ``after`` stages, in spec order, labelling each ancestor with the
    first ``after`` stage that reaches it: linear in stages and edges, however long the lists are."""
    if spec.training_pipeline is None:  # the stage names are reported unknown by spec.checks
        return
    deps = {s.name: s.depends_on for s in spec.training_pipeline.stages}
    reached_from: dict[str, str] = {}
    for after in gate.after:
        todo = [d for d in deps.get(after, ()) if d not in reached_from]
        while todo:
            node = todo.pop()
            if node in reached_from:
                continue
            reached_from[node] = after
            todo.extend(d for d in deps.get(node, ()) if d not in reached_from)
    for j, before in enumerate(gate.before):
        if before in reached_from:
            after = reached_from[before]
            yield (*base, "before", j), (
                f"stage {before!r} runs before {after!r} (depends_on), so the gate cannot be after "
                f"{after!r} and before {before!r}: that is a cycle"
            )
