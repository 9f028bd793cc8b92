"""Load a spec file: YAML with positions → pydantic → cross-field checks → located errors."""

from __future__ import annotations

import types
import typing
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from airflow_aiinfra.errors import SpecError, SpecIssue
from airflow_aiinfra.spec.checks.source import source_issues
from airflow_aiinfra.spec.loaded import LoadedSpec
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.model.sections import SECTIONS, section_model
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.secrets import GENERIC_SECRET
from airflow_aiinfra.spec.semantics import semantic_issues
from airflow_aiinfra.spec.suggest import closest, did_you_mean_key
from airflow_aiinfra.spec.types import shown
from airflow_aiinfra.spec.yaml_loader import LoadedYaml, Path, decode, format_path, load_yaml

__all__ = ["LoadedSpec", "display_path", "load_spec", "load_spec_text"]


def display_path(path: str | FsPath) -> str:
    """Paths in messages are relative to the working directory when possible."""
    p = FsPath(path)
    try:
        return str(p.resolve().relative_to(FsPath.cwd().resolve()))
    except ValueError:
        return str(p)


def load_spec(path: str | FsPath, options: SpecOptions | None = None) -> LoadedSpec:
    """Read and validate one spec file; raise :class:`SpecError` listing every problem."""
    options = options or SpecOptions()
    file = display_path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(options.max_bytes + 1)
    except OSError as exc:
        raise SpecError([SpecIssue(file, 1, 1, "<file>", f"cannot read spec: {exc.strerror or exc}")]) from None
    if len(raw) > options.max_bytes:
        raise SpecError([SpecIssue(file, 1, 1, "<file>", f"the spec is larger than {options.max_bytes} bytes "
                                   "([aiinfra] max_spec_bytes); split it, or raise the limit")])
    return load_spec_text(decode(raw, file), file, str(FsPath(path).resolve()), options)


def load_spec_text(
    text: str, file: str = "<spec>", path: str = "", options: SpecOptions | None = None
) -> LoadedSpec:
    options = options or SpecOptions()
    if len(text) > options.max_bytes:  # characters ≤ bytes: the same bound for text given directly
        raise SpecError([SpecIssue(file, 1, 1, "<file>", f"the spec is larger than {options.max_bytes} bytes "
                                   "([aiinfra] max_spec_bytes); split it, or raise the limit")])
    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        raise SpecError([SpecIssue(file, 1, 1, "<document>", f"a spec is a mapping with at least 'name', got {kind}")])
    issues = list(source_issues(doc))
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_pydantic_issue(doc, err) for err in exc.errors(include_url=False))
        raise SpecError(_dedupe(issues)) from None
    for path, message in semantic_issues(spec, options):
        line, col, real = doc.locate(path)
        issues.append(SpecIssue(file, line, col, format_path(real if len(real) >= len(path) else path),
                                _bounded(message)))
    if issues:
        raise SpecError(_dedupe(issues))
    return LoadedSpec(spec, file, text, path)


def _dedupe(issues: list[SpecIssue]) -> list[SpecIssue]:
    """Every problem once; where a field's own rule explains a value (a tracking URI with credentials), the
    generic secret finding at the same place is left out."""
    unique = set(issues)
    specific = {(i.line, i.col, i.path) for i in unique if not i.message.startswith(GENERIC_SECRET)}
    return sorted(i for i in unique if not (i.message.startswith(GENERIC_SECRET)
                                            and (i.line, i.col, i.path) in specific))


def _clean_loc(data: Any, loc: tuple) -> Path:
    """Keep only loc segments that address the data (drop pydantic's union/validator labels)."""
    out: list[str | int] = []
    node = data
    for seg in loc:
        if isinstance(node, dict) and isinstance(seg, str) and seg not in node and node.get("type") == seg:
            continue  # the tag of a tagged union (rollout.router's type): not a key of the data
        if isinstance(node, dict) and isinstance(seg, str) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, str) and any(isinstance(e, dict) and seg in e for e in node):
            node = next(e[seg] for e in node if isinstance(e, dict) and seg in e)
        elif isinstance(seg, str) and ("[" in seg or seg[:1].isupper()):
            continue  # e.g. 'function-after[...]', 'list[...]', 'Monitoring'
        else:
            node = None
        out.append(seg)
    return tuple(out)


def _data_at(data: Any, path: Path) -> Any:
    for seg in path:
        if isinstance(data, dict) and seg in data:
            data = data[seg]
        elif isinstance(data, list) and isinstance(seg, int) and seg < len(data):
            data = data[seg]
        else:
            return None
    return data


def _candidates(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _candidates(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [c for a in typing.get_args(tp) for c in _candidates(a)]
    return [tp]


def _models_at(path: Path) -> list[type[BaseModel]]:
    """Every spec model class ``path`` may hold (several for a union such as rollout.router's types)."""
    found: list[type[BaseModel]] = []
    model = _model_at(path, found)
    return found or ([model] if model else [])


def _tagged(models: list[type[BaseModel]], data: Any) -> tuple[type[BaseModel] | None, str]:
    """(the model the data's ``type`` picks, the hint for a key of another type); for tagged unions."""
    def tag(m: type[BaseModel]) -> Any:
        field = m.model_fields.get("type")
        args = typing.get_args(field.annotation) if field is not None else ()
        return args[0] if len(args) == 1 else None

    wanted = data.get("type", tag(models[0])) if isinstance(data, dict) else None
    picked = next((m for m in models if tag(m) == wanted), None)
    return picked, str(wanted)


def _model_at(path: Path, every: list[type[BaseModel]] | None = None) -> type[BaseModel] | None:
    """The spec model class found at ``path`` (to list its keys for 'did you mean')."""
    if not path:
        return Spec
    if path[0] in SECTIONS:  # section fields are validated lazily (spec/model/root.py): start at the section
        current: list[Any] = [section_model(str(path[0]))]
        path = path[1:]
    else:
        current = [Spec]
    for seg in path:
        nxt: list[Any] = []
        for tp in current:
            for cand in _candidates(tp):
                origin = typing.get_origin(cand)
                if isinstance(cand, type) and issubclass(cand, BaseModel) and isinstance(seg, str):
                    if seg in cand.model_fields:
                        nxt.append(cand.model_fields[seg].annotation)
                elif origin is list and isinstance(seg, int):
                    nxt.append(typing.get_args(cand)[0])
                elif origin is dict and isinstance(seg, str):
                    nxt.append(typing.get_args(cand)[1])
        current = nxt
    models = [c for tp in current for c in _candidates(tp) if isinstance(c, type) and issubclass(c, BaseModel)]
    if every is not None:
        every.extend(models)
    return models[0] if models else None


def _pydantic_issue(doc: LoadedYaml, err: dict[str, Any]) -> SpecIssue:
    path = _clean_loc(doc.data, err["loc"])
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        models = _models_at(path[:-1])
        model = models[0] if models else None
        hint = ""
        if len(models) > 1:  # a tagged union: the data's type picks the model; name the type a key belongs to
            picked, wanted = _tagged(models, _data_at(doc.data, path[:-1]))
            model = picked or model
            owners = [m for m in models if m is not model and key in m.model_fields]
            if owners:
                other = _tagged([owners[0]], {})[1]
                hint = f": {key!r} is a key of type {other!r}, not {wanted!r}; set type: {other} or drop it"
        fields = list(model.model_fields) if model else []
        hint = hint or did_you_mean_key(key, fields)
        message = f"unknown key {key!r}{hint}"
        line, col, _ = doc.locate(path, at_key=True)
    elif kind == "missing":
        message = f"missing required key {str(path[-1])!r}"
        line, col, _ = doc.locate(path[:-1])
    elif kind == "spec_version_string":
        raw = doc.raw_numbers.get(path, str(value))
        raw = raw if len(raw) <= 40 else raw[:39] + "…"
        message = f'version {raw} was read by YAML as the number {value}; quote it: "{raw}"'
        line, col, _ = doc.locate(path)
    else:
        message = _message(err, value)
        line, col, _ = doc.locate(path)
    return SpecIssue(doc.file, line, col, format_path(path) or "<document>", message)


MAX_MESSAGE = 600  # a message quotes bounded slices of values; this caps what a validator might still add


def _bounded(text: str) -> str:
    """Checks quote values as ``repr``; whatever a value's size, a message stays one short line."""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _message(err: dict[str, Any], value: Any) -> str:
    return _bounded(_raw_message(err, value))


def _raw_message(err: dict[str, Any], value: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        close = closest(str(value), choices, cutoff=0.5)
        hint = f"; did you mean {close!r}?" if close else ""
        return f"{shown(value)} is not allowed; use one of {expected}{hint}"
    if kind in _BOUNDS:
        return f"{shown(value)} is out of range: must be {_BOUNDS[kind]} {next(iter(err['ctx'].values()))}"
    if kind.startswith("spec_"):
        return msg  # our own messages already name the value and the fix
    got = shown(value) if not isinstance(value, dict | list) else type(value).__name__
    return f"{msg[:1].lower()}{msg[1:]}, got {got}"


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
