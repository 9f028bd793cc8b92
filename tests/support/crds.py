"""Validate rendered custom objects offline against the published CRDs in tests/fixtures/crds.

A real API server validates a custom object against its CRD's ``openAPIV3Schema`` (a
*structural* OpenAPI schema with Kubernetes extensions), then its CEL rules. This module
turns that schema into a JSON Schema that ``jsonschema`` can check with the server's
semantics:

- ``x-kubernetes-int-or-string`` → integer or string;
- ``nullable`` → null allowed;
- unknown fields are errors (the server's ``fieldValidation=Strict``) except below an
  ``x-kubernetes-preserve-unknown-fields`` node;
- ``x-kubernetes-embedded-resource`` objects may carry apiVersion/kind/metadata;
- ``x-kubernetes-list-type: set|map`` lists must not repeat an item / a map key;
- the root ``metadata`` is ObjectMeta (name, labels and annotations checked like the server).

CEL rules (``x-kubernetes-validations``) are evaluated by tests.support.cel_rules where a
check exists; the others are returned as ``unchecked`` so nothing is silently skipped.
"""

from __future__ import annotations

import copy
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.support import cel_rules

CRD_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "crds"

_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_QUALIFIED_NAME = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
_DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

# ObjectMeta as the API server checks it for every object (not part of the CRD's schema).
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS1123_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED_NAME, "maxLength": 317},
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE},
        },
        "annotations": {**_STRING_MAP, "propertyNames": {"pattern": _QUALIFIED_NAME}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
        "selfLink": {"type": "string"},
    },
}


@dataclass(frozen=True)
class CrdVersion:
    """One served version of a CRD: what validation and the stand-in API server need."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: dict[str, Any]  # the CRD's openAPIV3Schema, unchanged
    subresources: tuple[str, ...]
    source: str  # file name in tests/fixtures/crds

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


@dataclass
class Report:
    """What validating one object found: schema/CEL errors and the CEL rules not evaluated."""

    errors: list[str] = field(default_factory=list)
    unchecked: list[tuple[str, str]] = field(default_factory=list)  # (json path, rule)

    @property
    def ok(self) -> bool:
        return not self.errors


@cache
def _all_versions() -> dict[tuple[str, str], CrdVersion]:
    out: dict[tuple[str, str], CrdVersion] = {}
    for path in sorted(CRD_DIR.glob("*.yaml.gz")):
        with gzip.open(path, "rt") as fh:
            for doc in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for v in spec["versions"]:
                    cv = CrdVersion(
                        group=spec["group"],
                        version=v["name"],
                        kind=spec["names"]["kind"],
                        plural=spec["names"]["plural"],
                        namespaced=spec.get("scope") == "Namespaced",
                        schema=v["schema"]["openAPIV3Schema"],
                        subresources=tuple(v.get("subresources") or ()),
                        source=path.name,
                    )
                    out[(cv.api_version, cv.kind)] = cv
    return out


def all_crds() -> list[CrdVersion]:
    return list(_all_versions().values())


def crd(kind: str, api_version: str | None = None) -> CrdVersion:
    """The CRD version for ``kind`` (and ``apiVersion`` 'group/version', needed when several are served)."""
    found = [c for (av, k), c in _all_versions().items() if k == kind and (api_version in (None, av))]
    if len(found) == 1:
        return found[0]
    known = sorted(f"{c.kind} {c.api_version}" for c in _all_versions().values() if c.kind == kind)
    if not found:
        raise KeyError(
            f"no CRD for kind {kind!r} apiVersion {api_version!r} in {CRD_DIR}; known: {known or 'none'}"
        )
    raise KeyError(f"kind {kind!r} is served at several versions {known}: pass api_version")


def crd_for_plural(group: str, version: str, plural: str) -> CrdVersion | None:
    return next(
        (c for c in _all_versions().values() if (c.group, c.version, c.plural) == (group, version, plural)),
        None,
    )


def to_json_schema(node: Any, *, root: bool = False) -> Any:
    """The structural OpenAPI schema ``node`` as a Draft 4 JSON Schema with the server's semantics."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value) if isinstance(value, dict) else value
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(v) for v in value]
        elif key in ("description", "default", "example", "x-kubernetes-validations", "format"):
            continue  # format: int32/int64/date-time are not checked by the server's schema either
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    is_object = node.get("type") == "object"
    if (
        is_object
        and not node.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in node
    ):
        out["additionalProperties"] = False
    if root:
        out.setdefault("properties", {})["metadata"] = OBJECT_META
        out["properties"].setdefault("apiVersion", {"type": "string"})
        out["properties"].setdefault("kind", {"type": "string"})
    return out


def _list_type(validator: Any, list_type: str, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """``x-kubernetes-list-type``: a ``set`` repeats no item, a ``map`` repeats no key tuple."""
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                yield jsonschema.ValidationError(f"duplicate item {item!r} in a list of type set")
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        tuples = [tuple(item.get(k) for k in keys) for item in instance if isinstance(item, dict)]
        for t in {t for t in tuples if tuples.count(t) > 1}:
            yield jsonschema.ValidationError(f"duplicate entries for key {dict(zip(keys, t, strict=True))}")


_Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {"x-kubernetes-list-type": _list_type})


@cache
def _validator(api_version: str, kind: str) -> Any:
    c = crd(kind, api_version)
    return _Validator(to_json_schema(c.schema, root=True))


def _cel(schema: Any, value: Any, old: Any, path: str, report: Report) -> None:
    """Walk the object beside its schema, evaluating each CEL rule at the node it is declared on."""
    if not isinstance(schema, dict):
        return
    for entry in schema.get("x-kubernetes-validations") or ():
        rule = entry["rule"]
        if cel_rules.is_transition_rule(rule) and old is cel_rules.MISSING:
            continue  # transition rules do not apply on create
        check = cel_rules.check_for(rule)
        if check is None:
            report.unchecked.append((path, rule))
        else:
            try:
                passed = check(value, old)
            except (TypeError, AttributeError, KeyError) as exc:
                passed, entry = False, {**entry, "message": f"{entry.get('message', '')} ({exc})"}
            if not passed:
                report.errors.append(f"{path}: {entry.get('message') or 'failed rule'} (CEL rule {rule!r})")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, dict) else None)
            sub_old = old.get(key, cel_rules.MISSING) if isinstance(old, dict) else cel_rules.MISSING
            _cel(sub_schema, sub, sub_old, f"{path}.{key}", report)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            # A list item's old value is only known for map lists; treat items as new otherwise.
            _cel(schema["items"], item, cel_rules.MISSING, f"{path}[{i}]", report)


def check(obj: dict[str, Any], old: dict[str, Any] | None = None) -> Report:
    """Validate ``obj`` (its own apiVersion/kind pick the CRD); ``old`` turns on transition rules."""
    report = Report()
    c = crd(obj.get("kind", ""), obj.get("apiVersion"))
    for err in sorted(
        _validator(c.api_version, c.kind).iter_errors(obj), key=lambda e: list(e.absolute_path)
    ):
        report.errors.append(f"{err.json_path}: {err.message}")
    _cel(c.schema, obj, cel_rules.MISSING if old is None else old, "$", report)
    return report


def validate(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Assert ``obj`` is valid for its CRD; returns the CEL rules that applied but were not evaluated."""
    report = check(obj, old)
    if not report.ok:
        name = obj.get("metadata", {}).get("name")
        raise AssertionError(
            f"{obj.get('kind')} {name!r} is invalid for its CRD:\n  " + "\n  ".join(report.errors)
        )
    return report.unchecked


def all_rules(kind: str, api_version: str | None = None) -> list[tuple[str, str]]:
    """Every CEL rule in a CRD's schema as (schema path, rule): for the unchecked-rules doc."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for entry in node.get("x-kubernetes-validations") or ():
            out.append((path, entry["rule"]))
        for key, sub in (node.get("properties") or {}).items():
            walk(sub, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{path}[*]" if key == "items" else f"{path}.*")

    walk(crd(kind, api_version).schema, "$")
    return out


# The kinds the product renders (training jobs, Spark, and the canary work's serving objects).
DOC_KINDS: tuple[tuple[str, str], ...] = (
    ("TrainJob", "trainer.kubeflow.org/v1alpha1"),
    ("PyTorchJob", "kubeflow.org/v1"),
    ("SparkApplication", "sparkoperator.k8s.io/v1beta2"),
    ("InferenceService", "serving.kserve.io/v1beta1"),
    ("VirtualService", "networking.istio.io/v1"),
    ("DestinationRule", "networking.istio.io/v1"),
)
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "crd_validation.md"


def rules_doc() -> str:
    """docs/crd_validation.md: every CEL rule of the rendered kinds and whether tests evaluate it."""
    out = [
        "# CRD validation: which CEL rules the tests evaluate",
        "",
        "Generated by `python -m tests.support.crds > docs/crd_validation.md`; a test keeps it current.",
        "",
        "`tests/support/crds.py` validates rendered objects against the CRDs in `tests/fixtures/crds/` "
        "with `jsonschema`, with the API server's semantics (strict unknown fields, int-or-string, nullable, "
        "embedded resources, list-type set/map uniqueness, ObjectMeta name/label syntax). JSON Schema cannot "
        "evaluate `x-kubernetes-validations` (CEL): `tests/support/cel_rules.py` evaluates the rules below "
        "marked *checked* as explicit Python, keyed by the rule's exact text (or a small family pattern). "
        "*Transition* rules (`oldSelf`) apply only on update, as in the API server: on create they are "
        "skipped, and `crds.check(new, old=...)` evaluates them. *Unchecked* rules are never evaluated: "
        "`crds.check()` returns each one that applied to an object, so a test can fail on it.",
        "",
        "A CEL library was considered: `cel-python` 0.5.0 resolves beside the lock (with lark, jmespath, "
        "google-re2 1.1.20251105) and installs from wheels only, but google-re2 is a native extension "
        "and none of it is in `uv.lock`; the explicit checks keep the tests dependency-free.",
        "",
    ]
    for kind, api_version in DOC_KINDS:
        rules = all_rules(kind, api_version)
        counts: dict[str, list[str]] = {}
        for path, rule in rules:
            counts.setdefault(rule, []).append(path)
        out += [f"## {kind} ({api_version})", ""]
        if not counts:
            out += ["No CEL rules.", ""]
            continue
        out += ["| status | rule | where (first of n) |", "|---|---|---|"]
        for rule, paths in counts.items():
            if cel_rules.is_transition_rule(rule):
                status = "transition (update only), checked"
            elif cel_rules.check_for(rule) is not None:
                status = "checked"
            else:
                status = "**unchecked**"
            text = " ".join(rule.split()).replace("|", "\\|")
            where = f"`{paths[0]}`" + (f" ({len(paths)})" if len(paths) > 1 else "")
            out.append(f"| {status} | `{text}` | {where} |")
        out.append("")
    rendered = {k for k, _ in DOC_KINDS}
    others: dict[str, set[str]] = {}
    for c in all_crds():
        if c.kind not in rendered:
            for _, rule in all_rules(c.kind, c.api_version):
                if cel_rules.check_for(rule) is None:
                    others.setdefault(" ".join(rule.split()), set()).add(c.kind)
    out += [
        "## Other CRDs in the fixtures: rules not evaluated",
        "",
        "Kinds the product does not render yet (Gateway, ServiceEntry, AuthorizationPolicy, ... and "
        "ClusterTrainingRuntime). Add a check to `cel_rules.py` before rendering one of them.",
        "",
        "| rule | kinds |",
        "|---|---|",
    ]
    for rule, kinds in sorted(others.items()):
        out.append(f"| `{rule.replace('|', chr(92) + '|')}` | {', '.join(sorted(kinds))} |")
    out += [
        "",
        "Limits of the evaluator: a transition rule inside a list item is treated as new on update "
        "(the item's old value is not matched), so e.g. TrainJob `runtimePatches[*].manager == oldSelf` "
        "is only checked as part of a whole-field comparison above it, if any.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(rules_doc(), end="")
