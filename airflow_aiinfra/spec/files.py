"""Finding spec files in a folder, and which parse shard each belongs to."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml")


def spec_files(
    folder: Path, shard: int | None = None, shards: int = 1, exclude: Iterable[str] = ()
) -> list[Path]:
    """Spec files under ``folder`` (recursive; hidden and ``_``-prefixed names and the ``exclude``d
    subfolders skipped), in a stable order; with ``shard``, only those whose relative path hashes to it."""
    skip = {(Path(folder) / e).resolve() for e in exclude}
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith((".", "_")) and (Path(root) / d).resolve() not in skip
        )
        for f in sorted(files):
            if f.endswith(SPEC_SUFFIXES) and not f.startswith((".", "_")):
                out.append(Path(root) / f)
    if shard is not None and shards > 1:
        out = [p for p in out if shard_of(p.relative_to(folder), shards) == shard]
    return out


def shard_of(relative: Path, shards: int) -> int:
    """Stable across processes and machines (unlike hash()), so a spec never hops between units."""
    return zlib.crc32(relative.as_posix().encode()) % shards


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Command-line arguments → spec files: folders are searched (``spec_files``), files kept as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(spec_files(p) if p.is_dir() else [p])
    return out
