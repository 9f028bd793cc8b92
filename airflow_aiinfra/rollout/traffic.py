"""The one interface the rollout operators steer traffic through, whatever the router.

A router splits traffic between two **slots**, ``stable`` (serving ``@champion``) and ``canary`` (serving
the version this DAG run registered), and may send header-matched requests (the spec's routing rules
whose target is the canary slot) to the canary whatever its weight. Every method reads the router's real
state before changing it, so a retried or restarted task continues from where traffic really is, and
calling one twice is a no-op the second time.

Implementations (chosen by :func:`airflow_aiinfra.rollout.routers.factory.router_for`, imported lazily, inside ``execute()``; they may import Airflow hooks):

- ``haproxy``: :mod:`.haproxy` (runtime API weights; slots are model servers loaded through their admin API)
- ``kserve``: :mod:`.routers.kserve` (InferenceService ``canaryTrafficPercent``, split read from its status)
- ``istio``: :mod:`.routers.istio` (VirtualService weights; subsets' model servers loaded through their admin API)

``settings`` is the spec's router block as a flat mapping (``airflow_aiinfra.spec.model.routers``), without
``type``; each implementation's constructor takes exactly those keys as keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

SlotName = Literal["stable", "canary"]
SLOTS: tuple[SlotName, SlotName] = ("stable", "canary")


@dataclass(frozen=True)
class SlotState:
    weight: int  # percent of the weighted (non header-matched) traffic, 0..100
    model_version: str | None  # "name/version" the slot serves now; None when empty or unknown


@dataclass(frozen=True)
class Split:
    """What the router really does now."""

    stable: SlotState
    canary: SlotState
    header_routes_to_canary: bool  # header-matched requests reach the canary slot

    @property
    def canary_weight(self) -> int:
        return self.canary.weight


class Router(Protocol):
    """Traffic between the two slots of one serving target. All weights are the canary's percent."""

    def read(self) -> Split:
        """The router's actual state (never a remembered one)."""
        ...

    def initial_deploy(self, model_uri: str, version: str) -> Split:
        """First deploy (no champion yet): the stable slot serves ``version`` at 100 %, canary at 0."""
        ...

    def deploy_canary(self, model_uri: str, version: str, weight: int) -> Split:
        """The canary slot serves ``version`` (drained to 0 while it loads) and then gets ``weight``;
        header-matched requests reach it. ``model_uri`` is resolved (``models:/name/3`` or an artifact URI)."""
        ...

    def set_canary_weight(self, weight: int) -> Split:
        """Move the weighted split to ``weight`` % canary (stable gets the rest), with no dropped requests."""
        ...

    def promote(self, model_uri: str, version: str) -> Split:
        """The new champion ``version`` ends in the stable slot at 100 %, the canary slot at 0 with no header
        route, with zero failed requests on the way."""
        ...

    def rollback(self) -> Split:
        """All traffic, header-matched included, back to the stable slot. Safe to call twice."""
        ...

    def describe(self) -> str:
        """One line naming the router and target, for logs and error messages (no secrets)."""
        ...
