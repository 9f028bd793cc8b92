"""Safe, bounded YAML loading that remembers where every key and value was written.

The document is built straight from the YAML parser's events (libyaml's parser is iterative; its composer
recurses, and 60,000 nested brackets crash it with no Python error to catch), by a loop with an explicit
stack, so that for any input:

- nesting deeper than ``MAX_DEPTH``, a document expanding (aliases included) to more than ``MAX_NODES`` nodes
  or ``MAX_BYTES`` of scalar text, and numbers Python cannot hold are located errors, never a crash or a stall;
- positions survive for error messages; an error inside an aliased value points at the alias;
- duplicate keys are errors (PyYAML keeps the last silently); dates and versions stay the strings written;
  anchors, aliases and merge keys work; any tag that would construct a Python object, on a value or a key,
  is rejected; numbers are finite;
- each scalar written in the file is listed once in ``LoadedYaml.scalars`` (aliases reuse it), so the
  template and secret checks run once per distinct value however often it is referenced.
"""

from __future__ import annotations

import math
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
MAX_DEPTH = 64
MAX_NODES = 200_000  # nodes after alias expansion ("billion laughs")
MAX_BYTES = 8 * 1024 * 1024  # scalar text after alias expansion
MAX_PATH_SEGMENT = 64  # characters of a key shown in a message
_resolver = yaml.resolver.Resolver()
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
    raw_plain: dict[Path, str] = field(default_factory=dict)  # unquoted booleans and nulls as written ("NO")
    scalars: list[tuple[Path, str]] = field(default_factory=list)  # every string scalar of the file, once

    def locate(self, path: Path, *, at_key: bool = False) -> tuple[int, int, Path]:
        """Best (line, col) for ``path`` and the real path in the document.

        Follows list-of-single-key-map forms (``consistency: [- tolerance: ...]``): a string segment
        applied to a list finds the element holding that key. Falls back to the deepest part of the path
        that has a position (inside an aliased value: the alias)."""
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
        for n in range(len(rpath), -1, -1):
            for known in (self.key_marks, self.value_marks):
                if rpath[:n] in known:
                    return (*known[rpath[:n]], rpath)
        return (1, 1, rpath)


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


def format_path(path: Path) -> str:
    """``('a', 'b', 1, 'c')`` → ``a.b[1].c`` (very long keys, and very deep paths, are shortened)."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            text = seg if len(seg) <= MAX_PATH_SEGMENT else seg[: MAX_PATH_SEGMENT - 1] + "…"
            out += f".{text}" if out else text
    return out if len(out) <= 4 * MAX_PATH_SEGMENT else out[:MAX_PATH_SEGMENT] + "…" + out[-2 * MAX_PATH_SEGMENT:]


class _Abort(Exception):
    """A bound was crossed: stop building, report what was found so far."""


@dataclass
class _Frame:
    kind: str  # "map" | "seq"
    path: Path
    start: tuple[int, int]
    anchor: str | None
    data: Any
    nodes: int = 1  # nodes under this frame (for anchors), including aliases' expansions
    size: int = 0  # scalar bytes under this frame
    key: str | None = None  # a map frame waiting for the value of this key
    key_mark: tuple[int, int] = (1, 1)
    merge: bool = False  # the pending key is `<<`
    drop: bool = False  # the pending key is a duplicate: its value is built (and checked), then dropped
    merged: list[tuple[dict[str, Any], tuple[int, int]]] = field(default_factory=list)
    first_seen: dict[str, int] = field(default_factory=dict)  # key → line it was first written


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[SpecIssue] = []
        self.doc = LoadedYaml(None, "", file)
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name → (value, nodes, bytes)
        self.open_anchors: set[str] = set()
        self.nodes = 0
        self.bytes = 0
        self.skip = 0  # depth of a subtree being skipped (a collection used as a key)
        self.done = False

    def issue(self, at: tuple[int, int], path: Path, message: str) -> None:
        self.issues.append(SpecIssue(self.file, at[0], at[1], format_path(path) or "<document>", message))

    # --- the event loop -------------------------------------------------------------------------------
    def run(self, events: Iterator[Any]) -> None:
        for event in events:
            if self.skip:
                if isinstance(event, yaml.CollectionStartEvent):
                    self.skip += 1
                elif isinstance(event, yaml.CollectionEndEvent):
                    self.skip -= 1
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                if self.done:
                    self.issue(_mark(event), (), "a spec file holds one YAML document; remove '---'")
                    raise _Abort
            elif isinstance(event, yaml.ScalarEvent):
                self.scalar(event)
            elif isinstance(event, yaml.AliasEvent):
                self.alias(event)
            elif isinstance(event, yaml.CollectionStartEvent):
                self.start(event)
            elif isinstance(event, yaml.CollectionEndEvent):
                self.end()
            elif isinstance(event, yaml.DocumentEndEvent):
                self.done = True

    def _where(self) -> Path | None:
        """The path of the next value, or None when the next node is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.kind == "seq":
            return (*top.path, len(top.data))
        return None if top.key is None else (*top.path, top.key)

    def _count(self, nodes: int, size: int, at: tuple[int, int], path: Path) -> None:
        self.nodes += nodes
        self.bytes += size
        for frame in self.stack:
            frame.nodes += nodes
            frame.size += size
        if self.nodes > MAX_NODES or self.bytes > MAX_BYTES:
            what = f"{MAX_NODES} nodes" if self.nodes > MAX_NODES else f"{MAX_BYTES // (1024 * 1024)} MiB"
            self.issue(at, path, f"the document expands to more than {what} (aliases included): an alias bomb? "
                       "write the values out, or split the spec")
            raise _Abort

    def start(self, event: Any) -> None:
        kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
        at = _mark(event)
        path = self._where()
        if path is None:
            self.issue(at, self.stack[-1].path, "mapping keys must be plain scalars")
            self.skip = 1
            return
        if len(self.stack) >= MAX_DEPTH:
            self.issue(at, path, f"nested more than {MAX_DEPTH} levels deep; a spec is never that deep")
            raise _Abort
        expected = _TAG + ("map" if kind == "map" else "seq")
        if event.tag not in (None, "!", expected):
            self.issue(at, path, f"YAML tag {event.tag!r} is not allowed; specs hold plain data only")
        self._count(1, 0, at, path)
        self.doc.value_marks.setdefault(path, at)
        if event.anchor:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame(kind, path, at, event.anchor, {} if kind == "map" else []))

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.kind == "map":
            for source, at in frame.merged:  # merged keys never override explicit ones; earlier sources win
                for key, value in source.items():
                    if key not in frame.data:
                        frame.data[key] = value
                        self.doc.key_marks.setdefault((*frame.path, key), at)
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = (frame.data, frame.nodes, frame.size)
        self.emit(frame.data, frame.path, frame.start)

    def alias(self, event: Any) -> None:
        at = _mark(event)
        path = self._where()
        if path is None:
            path = self.stack[-1].path
            if event.anchor in self.anchors and isinstance(self.anchors[event.anchor][0], str | int | float):
                self.key(str(self.anchors[event.anchor][0]), at, path)
            else:
                self.issue(at, path, "mapping keys must be plain scalars")
            return
        if event.anchor in self.open_anchors:
            self.issue(at, path, f"recursive YAML alias *{event.anchor}: an anchor cannot contain itself")
            raise _Abort
        if event.anchor not in self.anchors:
            self.issue(at, path, f"unknown YAML alias *{event.anchor}; define &{event.anchor} before using it")
            raise _Abort
        value, nodes, size = self.anchors[event.anchor]
        self._count(nodes, size, at, path)
        self.doc.value_marks.setdefault(path, at)
        self.emit(value, path, at)

    def scalar(self, event: Any) -> None:
        at = _mark(event)
        path = self._where()
        if path is None:  # a mapping key
            top = self.stack[-1]
            tag = event.tag or _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == _TAG + "merge":
                top.merge, top.key, top.key_mark = True, "<<", at
                return
            if tag not in _SCALAR_TAGS:
                self.issue(at, top.path, f"YAML tag {tag!r} is not allowed on a key; specs hold plain data only")
            self._count(1, len(event.value), at, top.path)
            self.key(event.value, at, top.path)
            return
        self._count(1, len(event.value), at, path)
        value = self.construct(event, at, path)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1, len(event.value))
        self.doc.value_marks.setdefault(path, at)
        if isinstance(value, str):
            self.doc.scalars.append((path, value))
        self.emit(value, path, at)

    def key(self, name: str, at: tuple[int, int], path: Path) -> None:
        top = self.stack[-1]
        if name in top.first_seen:
            self.issue(at, (*path, name), f"duplicate key {name!r} (first written at line {top.first_seen[name]}); "
                       "YAML would silently keep only the last one: remove one of them")
            top.key, top.key_mark, top.drop = name, at, True
            return
        top.first_seen[name] = at[0]
        top.key, top.key_mark = name, at
        self.doc.key_marks[(*path, name)] = at

    def construct(self, event: Any, at: tuple[int, int], path: Path) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit if event.tag is None else (False, True))
        if tag not in _SCALAR_TAGS:
            self.issue(at, path, f"YAML tag {tag!r} is not allowed; specs hold plain data only")
            return None
        if tag in (_TAG + "str", _TAG + "timestamp"):  # dates stay as written
            return event.value
        if tag in (_TAG + "int", _TAG + "float"):
            self.doc.raw_numbers[path] = event.value
        elif event.tag is None and event.implicit[0]:
            self.doc.raw_plain[path] = event.value
        node = yaml.ScalarNode(tag, event.value)
        kind = tag[len(_TAG):]
        try:
            value = getattr(_constructor, "construct_yaml_" + kind)(node)
        except (ValueError, KeyError, TypeError, OverflowError):
            digits = sum(c.isdigit() for c in event.value)
            why = f"a number of {digits} digits is too large" if kind == "int" and digits > 100 else (
                f"{_short(event.value)} is not a valid YAML {kind}")
            self.issue(at, path, f"{why}; write a plain value (or quote it for text)")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.issue(at, path, f"{event.value!r} is not a finite number; specs take finite numbers only "
                       "(quote it for text)")
            return None
        return value

    def emit(self, value: Any, path: Path, at: tuple[int, int]) -> None:
        if not self.stack:
            self.doc.data = value
            return
        top = self.stack[-1]
        if top.kind == "seq":
            top.data.append(value)
            return
        if top.merge:
            sources = value if isinstance(value, list) else [value]
            for src in sources:
                if isinstance(src, dict):
                    top.merged.append((src, top.key_mark))
                else:
                    self.issue(at, top.path, "a merge key (<<) must refer to a mapping")
            top.merge, top.key = False, None
            return
        assert top.key is not None
        if not top.drop:
            top.data[top.key] = value
        top.key, top.drop = None, False


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def decode(raw: bytes, file: str) -> str:
    """UTF-8 text of a spec; a bad byte is a located error at its own line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position(raw[: exc.start].decode("utf-8", errors="replace"), exc.start)
        raise SpecError([SpecIssue(file, line, col, "<file>", f"byte 0x{raw[exc.start]:02x} is not UTF-8; "
                                   "save the spec as UTF-8")]) from None


def load_yaml(text: str, file: str) -> LoadedYaml:
    """Parse one YAML document; raise :class:`SpecError` with located issues on any problem."""
    builder = _Builder(file)
    try:
        builder.run(yaml.parse(text, Loader=_Loader))
    except _Abort:
        pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        ctx = ""
        if exc.context and exc.problem:
            where = exc.context_mark
            at = f" started at line {where.line + 1}, column {where.column + 1}" if where else ""
            ctx = f" ({exc.context}{at})"
        raise SpecError([*builder.issues, SpecIssue(file, line, col, "<yaml>", f"YAML syntax error: {problem}{ctx}")]) from None
    except yaml.reader.ReaderError as exc:
        line, col = _position(text, exc.position)
        raise SpecError([SpecIssue(file, line, col, "<yaml>", f"character {exc.character!r} is not allowed in YAML "
                                   "(a control character?)")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(file, 1, 1, "<yaml>", f"YAML error: {exc}")]) from None
    if builder.issues:
        raise SpecError(builder.issues)
    doc = builder.doc
    doc.text = text
    return doc
