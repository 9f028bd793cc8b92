"""Generate airflow_aiinfra/spec/gx_expectations.json from the installed Great Expectations.

The spec layer checks expectation names and arguments against this catalog, so validating a
spec never imports great_expectations. Re-run after upgrading GX (CI checks it is current):

    .venv/bin/python scripts/gen_gx_expectations.py            # write the catalog
    .venv/bin/python scripts/gen_gx_expectations.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import datetime
import enum
import json
import os
import sys
import typing
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "airflow_aiinfra" / "spec" / "gx_expectations.json"

# Base Expectation fields a spec may set on any expectation; the rest (id, rendered_content,
# windows, batch_id, library_metadata) are filled by GX or GX Cloud, never written by people.
COMMON_ALLOWED = ("meta", "notes", "description", "catch_exceptions", "severity", "result_format")
HIDDEN = {"id", "rendered_content", "windows", "batch_id", "library_metadata"}


def json_types(tp: typing.Any) -> dict[str, typing.Any]:
    """A small JSON-schema-like description of a pydantic v1 field type: {"type": [...], "enum": [...]}."""
    from pydantic.v1 import ConstrainedFloat, ConstrainedInt, ConstrainedStr

    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return json_types(typing.get_args(tp)[0])
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        out: dict[str, typing.Any] = {"type": []}
        for arg in typing.get_args(tp):
            sub = json_types(arg)
            if sub.get("type") == ["any"]:
                return {"type": ["any"]}
            for t in sub.get("type", []):
                if t not in out["type"]:
                    out["type"].append(t)
            for key in ("minimum", "maximum"):
                if key in sub:
                    out[key] = sub[key]
            if "enum" in sub:
                out.setdefault("enum", []).extend(sub["enum"])
        return out
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        return {"type": sorted({_name_of(type(v)) for v in values}), "enum": values}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set, typing.List, typing.Tuple, typing.Set):  # noqa: UP006
        return {"type": ["array"]}
    if origin is dict or tp in (dict, typing.Dict):  # noqa: UP006
        return {"type": ["object"]}
    if tp is type(None):
        return {"type": ["null"]}
    if isinstance(tp, type):
        if issubclass(tp, bool):
            return {"type": ["boolean"]}
        if issubclass(tp, ConstrainedFloat) or issubclass(tp, ConstrainedInt):
            out = {"type": ["number"] if issubclass(tp, ConstrainedFloat) else ["integer"]}
            if tp.ge is not None:
                out["minimum"] = tp.ge
            if tp.le is not None:
                out["maximum"] = tp.le
            return out
        if issubclass(tp, enum.Enum):
            return {"type": ["string"], "enum": [m.value for m in tp]}
        if issubclass(tp, int):
            return {"type": ["integer"]}
        if issubclass(tp, float):
            return {"type": ["number"]}
        if issubclass(tp, str | ConstrainedStr):
            return {"type": ["string"]}
        if issubclass(tp, datetime.date):
            return {"type": ["string"]}
        if issubclass(tp, list | tuple | set):
            return {"type": ["array"]}
        if issubclass(tp, dict):
            return {"type": ["object"]}
    return {"type": ["any"]}  # models (row conditions), Any: not checked without GX


def _name_of(tp: type) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(tp, "any")


def catalog() -> dict[str, typing.Any]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.expectations.expectation import Expectation
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    common = {name: json_types(Expectation.__fields__[name].outer_type_) for name in COMMON_ALLOWED}
    expectations: dict[str, typing.Any] = {}
    for name in sorted(list_registered_expectation_implementations()):
        cls = get_expectation_impl(name)
        args: dict[str, typing.Any] = {}
        required: list[str] = []
        for field_name, field in cls.__fields__.items():
            if field_name in HIDDEN or field_name in Expectation.__fields__:
                continue
            args[field_name] = json_types(field.outer_type_)
            if field.required:
                required.append(field_name)
        expectations[name] = {"args": args, "required": required}
    return {
        "generated_by": "scripts/gen_gx_expectations.py",
        "great_expectations": gx.__version__,
        "common_args": common,
        "expectations": expectations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed catalog is stale")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = json.dumps(catalog(), indent=1, sort_keys=True, default=str) + "\n"
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run scripts/gen_gx_expectations.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
