"""A valid spec with the text it came from: what the plan layer receives."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from airflow_aiinfra.spec.model.root import Spec


@dataclass(frozen=True)
class LoadedSpec:
    """``file`` is the path as shown in messages; ``path`` the absolute path ("" for text not read from a file)."""

    spec: Spec
    file: str
    text: str
    path: str = ""

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()
