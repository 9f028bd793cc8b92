"""Data locations: where a gate, a feature source or an output may read or write. The one home of the rule,
used twice: lexically when a spec is validated (``lexical_problem``: a located spec error), and on the resolved
path when the operator runs (``check_resolved``: after templates are rendered and symlinks followed).

A data location is never:

- a kernel or device tree (``/proc``, ``/sys``, ``/dev``): ``/proc/self/environ`` is the worker's environment;
- the bundle's code (``dags/``, ``specs/`` under the bundle root), a Python file anywhere, or the installed
  package: a gate would print it, an output would overwrite it;
- a relative path that leaves the bundle (``../../etc/cron.d/x``); relative paths mean "under the bundle root";
- outside ``[aiinfra] data_roots`` when that option lists roots (local folders or URL prefixes such as
  ``s3://ml-data/``); a relative path is then checked once it is resolved, at run time.

URLs of object stores (``s3://``, ``gs://``, ...) are data by nature; ``file://`` URLs are local paths.
Pure: no Airflow, no configuration read here (the callers pass the roots).
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from airflow_aiinfra.errors import DataLocationRefused

SYSTEM_TREES = ("/proc", "/sys", "/dev")
CODE_FOLDERS = ("dags", "specs")
CODE_SUFFIXES = (".py", ".pyc", ".pyi")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
FIX = "keep data under the bundle's data folders, an object store URL, or [aiinfra] data_roots"


def untemplated(value: str) -> str:
    """``{{ ... }}`` blocks replaced by one plain segment, linear in the value's length."""
    parts, start = [], 0
    while (open_at := value.find("{{", start)) != -1:
        close_at = value.find("}}", open_at + 2)
        if close_at == -1:
            break
        parts.append(value[start:open_at] + "x")
        start = close_at + 2
    return "".join(parts) + value[start:]


def _local(value: str) -> str | None:
    """The local path a value names, or None for a URL of a remote store."""
    m = _URL.match(value)
    if m is None:
        return value
    return value[len("file://"):] if m.group(1).lower() == "file" else None


def _under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root.endswith("/") else root + "/")


def _root_problem(value: str, roots: tuple[str, ...]) -> str | None:
    """Roots as written: local folders (``file://`` or not, normalized) and URL prefixes compared as text."""
    normal = [posixpath.normpath(r) if (r := _local(root)) else root for root in roots]
    if roots and not any(_under(value, r) for r in normal):
        return f"it is outside [aiinfra] data_roots ({', '.join(roots)})"
    return None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 120 else value[:119] + "…")


def lexical_problem(value: str, roots: tuple[str, ...] = ()) -> str | None:
    """Why a path as written in a spec is not a data location, with the fix; None when it may be one (a
    templated part is checked again once rendered)."""
    problem = _problem(untemplated(value), roots, lexical=True)
    return f"{_shown(value)} is not a data location: {problem}; {FIX}" if problem else None


def _problem(value: str, roots: tuple[str, ...], *, lexical: bool) -> str | None:
    local = _local(value)
    if local is None:
        return _root_problem(value, roots)
    if "\x00" in local:
        return "it holds a NUL byte"
    path = posixpath.normpath(local) if local else "."
    if path.lower().endswith(CODE_SUFFIXES):
        return "it is a Python file (code, not data)"
    if posixpath.isabs(path):
        for tree in SYSTEM_TREES:
            if _under(path, tree):
                return f"it is under {tree}, the kernel's and devices' tree"
        return _root_problem(path, roots)
    if path == ".." or path.startswith("../"):
        return "a relative path resolves against the bundle root and must stay inside it (no '..' out of it)"
    first = path.split("/", 1)[0]
    if first in CODE_FOLDERS:
        return f"it is in the bundle's {first}/ folder (code and specs, not data)"
    if path == ".":
        return "it is the bundle root itself"
    return None  # relative: data_roots are checked on the resolved path when the task runs


def package_dir() -> Path:
    return Path(__file__).resolve().parent


def check_resolved(path: str, base_dir: str | None, roots: tuple[str, ...] = ()) -> str:
    """The path a task will really read or write (relative paths against ``base_dir``, symlinks followed);
    :class:`DataLocationRefused` when that is not a data location. Returns the path to use, as given when it
    is a remote URL."""
    problem = _problem(path, roots, lexical=False)
    if problem is None and _local(path) is not None:
        problem = _resolved_problem(path, base_dir, roots)
    if problem:
        raise DataLocationRefused(f"{_shown(path)} is not a data location: {problem}; {FIX}")
    local = _local(path)
    if local is None or os.path.isabs(local) or not base_dir:
        return path
    return os.path.join(base_dir, local)


def _resolved_problem(path: str, base_dir: str | None, roots: tuple[str, ...]) -> str | None:
    local = _local(path) or ""
    joined = local if os.path.isabs(local) or not base_dir else os.path.join(base_dir, local)
    real = os.path.realpath(joined)
    if real.lower().endswith(CODE_SUFFIXES):
        return f"it resolves to {real}, a Python file"
    for tree in SYSTEM_TREES:
        if _under(real, tree):
            return f"it resolves to {real}, under {tree}"
    code = [str(package_dir())]
    if base_dir:
        base_real = os.path.realpath(base_dir)
        code += [os.path.join(base_real, d) for d in CODE_FOLDERS]
    for folder in code:
        if _under(real, folder):
            return f"it resolves to {real}, inside code ({folder})"
    if roots:
        local_roots = tuple(os.path.realpath(os.path.join(base_dir or "", r)) for r in map(_local, roots) if r)
        if not any(_under(real, r) for r in local_roots):
            return f"it resolves to {real}, outside [aiinfra] data_roots ({', '.join(roots)})"
    return None
