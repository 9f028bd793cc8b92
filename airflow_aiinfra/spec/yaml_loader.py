"""Safe YAML loading that remembers where every key and value was written.

Built on PyYAML's composer (libyaml when present) and a small constructor of our
own, so that: positions survive for error messages, duplicate keys are errors
(PyYAML keeps the last silently), dates and versions stay the strings that were
written, anchors/aliases and merge keys work, and any tag that would construct a
Python object is rejected before anything is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from airflow_aiinfra.errors import SpecError, SpecIssue

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAX_NODES = 200_000  # guards against alias bombs ("billion laughs")
_constructor = yaml.SafeLoader("")  # only its construct_yaml_* helpers are used


@dataclass
class LoadedYaml:
    """A loaded document: plain data plus the 1-based (line, col) of each key and value."""

    data: Any
    text: str
    file: str
    key_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    value_marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    raw_numbers: dict[Path, str] = field(default_factory=dict)  # numbers as written ("1.10", not 1.1)

    def locate(self, path: Path, *, at_key: bool = False) -> tuple[int, int, Path]:
        """Best (line, col) for ``path`` and the real path in the document.

        Follows list-of-single-key-map forms (``consistency: [- tolerance: ...]``):
        a string segment applied to a list finds the element holding that key.
        Unknown tails fall back to the deepest part of the path that exists.
        """
        real: list[str | int] = []
        node = self.data
        for seg in path:
            if isinstance(node, dict) and isinstance(seg, str) and seg in node:
                real.append(seg)
                node = node[seg]
            elif isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
                real.append(seg)
                node = node[seg]
            elif isinstance(node, list) and isinstance(seg, str):
                idx = next((i for i, el in enumerate(node) if isinstance(el, dict) and seg in el), None)
                if idx is None:
                    break
                real.extend((idx, seg))
                node = node[idx][seg]
            else:
                break
        rpath = tuple(real)
        complete = len(real) >= len(path) or (rpath and rpath[-1] == path[-1])
        marks = self.key_marks if (at_key and complete) else self.value_marks
        if rpath in marks:
            return (*marks[rpath], rpath)
        if rpath in self.key_marks:
            return (*self.key_marks[rpath], rpath)
        return (*self.value_marks.get(rpath, (1, 1)), rpath)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[SpecIssue] = []
        self.key_marks: dict[Path, tuple[int, int]] = {}
        self.value_marks: dict[Path, tuple[int, int]] = {}
        self.raw_numbers: dict[Path, str] = {}
        self.count = 0
        self.active: set[int] = set()

    def issue(self, node: yaml.Node, path: Path, message: str) -> None:
        line, col = _mark(node)
        self.issues.append(SpecIssue(self.file, line, col, format_path(path) or "<document>", message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooBig
        self.value_marks.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.active:
            self.issue(node, path, "recursive YAML alias: an anchor cannot contain itself")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _TAG + "seq":
                    self.issue(node, path, f"YAML tag {node.tag!r} is not allowed; specs hold plain data only")
                    return None
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            if node.tag != _TAG + "map":
                self.issue(node, path, f"YAML tag {node.tag!r} is not allowed; specs hold plain data only")
                return None
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            self.issue(node, path, f"YAML tag {tag!r} is not allowed; specs hold plain data only")
            return None
        if tag in (_TAG + "str", _TAG + "timestamp"):  # dates stay as written
            return node.value
        if tag in (_TAG + "int", _TAG + "float"):
            self.raw_numbers[path] = node.value
        return getattr(_constructor, "construct_yaml_" + tag[len(_TAG) :])(node)

    def _pairs(self, node: yaml.MappingNode, path: Path) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """Explicit pairs first, then merged ones (``<<``), which never override explicit keys."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key, value in node.value:
            if key.tag == _TAG + "merge":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        self.issue(src, path, "a merge key (<<) must refer to a mapping")
                        continue
                    merged.extend((k, v, True) for k, v, _ in self._pairs(src, path))
            else:
                yield key, value, False
        yield from merged

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key, value, from_merge in self._pairs(node, path):
            if not isinstance(key, yaml.ScalarNode):
                self.issue(key, path, "mapping keys must be plain scalars")
                continue
            name = str(key.value)
            if name in first_seen:
                if not from_merge:
                    line, _ = _mark(first_seen[name])
                    self.issue(
                        key,
                        (*path, name),
                        f"duplicate key {name!r} (first written at line {line}); "
                        "YAML would silently keep only the last one: remove one of them",
                    )
                continue
            first_seen[name] = key
            child = (*path, name)
            if not from_merge:
                self.key_marks[child] = _mark(key)
            else:
                self.key_marks.setdefault(child, _mark(node))
            out[name] = self.build(value, child)
        return out


class _TooBig(Exception):
    pass


def format_path(path: Path) -> str:
    """``('a', 'b', 1, 'c')`` → ``a.b[1].c``."""
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out


def load_yaml(text: str, file: str) -> LoadedYaml:
    """Parse one YAML document; raise :class:`SpecError` with located issues on any problem."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        ctx = ""
        if exc.context and exc.problem:
            where = exc.context_mark
            at = f" started at line {where.line + 1}, column {where.column + 1}" if where else ""
            ctx = f" ({exc.context}{at})"
        raise SpecError([SpecIssue(file, line, col, "<yaml>", f"YAML syntax error: {problem}{ctx}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(file, 1, 1, "<yaml>", f"YAML error: {exc}")]) from None
    if len(nodes) > 1:
        line, col = _mark(nodes[1])
        raise SpecError([SpecIssue(file, line, col, "<yaml>", "a spec file holds one YAML document; remove '---'")])
    builder = _Builder(file)
    data: Any = None
    if nodes:
        try:
            data = builder.build(nodes[0], ())
        except _TooBig:
            raise SpecError(
                [SpecIssue(file, 1, 1, "<yaml>", f"document expands to more than {_MAX_NODES} nodes (alias bomb?)")]
            ) from None
    if builder.issues:
        raise SpecError(builder.issues)
    return LoadedYaml(data, text, file, builder.key_marks, builder.value_marks, builder.raw_numbers)
