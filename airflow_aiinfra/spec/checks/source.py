"""Checks of what was written, before any model sees it: templates, literal secrets, env values whose YAML
reading would change them. Each distinct scalar of the file is checked once (``LoadedYaml.scalars``), however
often an alias repeats it, so a bomb of references costs nothing extra."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.errors import SpecIssue
from airflow_aiinfra.spec.secrets import secret_problem
from airflow_aiinfra.spec.templates import check_template
from airflow_aiinfra.spec.yaml_loader import LoadedYaml, Path, format_path

MAX_SCALAR = 64 * 1024  # characters of one value


def source_issues(doc: LoadedYaml) -> Iterator[SpecIssue]:
    seen: set[str] = set()
    for path, value in doc.scalars:
        if value in seen:
            continue
        seen.add(value)
        problem = (f"a value of {len(value)} characters is longer than {MAX_SCALAR}; keep large content in files "
                   "the stage reads") if len(value) > MAX_SCALAR else (check_template(value) or secret_problem(value))
        if problem:
            yield _issue(doc, path, problem)
    yield from _env_numbers(doc)


def _env_numbers(doc: LoadedYaml) -> Iterator[SpecIssue]:
    """In an ``env`` map, YAML booleans and null, and numbers whose text the YAML reading would change
    (``1.10`` → 1.1, ``1e3`` → 1000.0, ``0o17`` → 15), must be quoted; other numbers keep their text."""
    for path, raw in doc.raw_plain.items():
        if _in_env(path):
            yield _issue(doc, path, f"YAML reads the unquoted env value {raw!r} as "
                         f"{'null' if raw.lower() in ('null', '~', '') else 'a boolean'}: quote it (\"{raw}\")")
    for path, raw in doc.raw_numbers.items():
        if _in_env(path) and _canonical(raw) != raw:
            yield _issue(doc, path, f"YAML reads the unquoted env value {raw!r} as the number "
                         f"{_canonical(raw)}: quote it (\"{raw}\") to keep it as written")


def _in_env(path: Path) -> bool:
    return len(path) >= 2 and path[-2] == "env" and isinstance(path[-1], str)


def _canonical(raw: str) -> str:
    import yaml

    value = yaml.safe_load(raw)
    return str(value)


def _issue(doc: LoadedYaml, path: Path, message: str) -> SpecIssue:
    line, col, _ = doc.locate(path)
    return SpecIssue(doc.file, line, col, format_path(path) or "<document>", message)
