"""What validation depends on beyond the spec itself, given by the caller (the spec layer reads no config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecOptions:
    """``custom_expectations``: the deployment registers custom GX expectations ([aiinfra]
    gx_custom_expectations_module), so unknown expectation names are left for the gate to check when it runs.
    ``max_bytes``: the largest spec file read ([aiinfra] max_spec_bytes).
    ``data_roots``: where data paths must stay ([aiinfra] data_roots; empty: any data location)."""

    custom_expectations: bool = False
    max_bytes: int = 2 * 1024 * 1024
    data_roots: tuple[str, ...] = ()
