"""Pod settings shared by the spec's defaults and its stages (no Kubernetes import: plain validated data)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from airflow_aiinfra.spec.types import Strict

GpuVendor = Literal["nvidia", "amd"]


class SecurityContext(Strict):
    """Pod hardening. ``restricted`` (default) follows the Kubernetes Pod Security Standard."""

    profile: Literal["restricted", "baseline", "privileged"] = Field(
        "restricted",
        description="restricted: non-root, no privilege escalation, all capabilities dropped, RuntimeDefault "
        "seccomp. baseline: drops only the non-root requirement. privileged: sets nothing (explicit opt-out).",
    )
    run_as_user: int | None = Field(None, ge=0, description="Default: [aiinfra] default_run_as_user (1000).")
    run_as_group: int | None = Field(None, ge=0)
    fs_group: int | None = Field(None, ge=0)
    read_only_root_filesystem: bool = False

    @model_validator(mode="after")
    def _root_needs_opt_out(self) -> SecurityContext:
        if self.profile == "restricted" and self.run_as_user == 0:
            raise ValueError(
                "run_as_user 0 (root) is not allowed by the restricted profile; set profile: baseline "
                "to run as root explicitly"
            )
        return self
