"""Pick the router implementation for a spec's ``router.type``: a literal table, imports inside the call
(a router module may import Airflow hooks and clients; the plan and the DAG file never import one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_aiinfra.rollout.traffic import Router

ROUTER_TYPES = ("haproxy", "kserve", "istio")


def router_for(router_type: str, settings: Mapping[str, Any]) -> Router:
    """The router of ``router_type`` built from the spec's settings block (without ``type``) as keywords."""
    if router_type == "haproxy":
        from airflow_aiinfra.rollout.routers.haproxy import HaproxyRouter

        return HaproxyRouter(**settings)
    if router_type == "kserve":
        from airflow_aiinfra.rollout.routers.kserve import KServeRouter

        return KServeRouter(**settings)
    if router_type == "istio":
        from airflow_aiinfra.rollout.routers.istio import IstioRouter

        return IstioRouter(**settings)
    raise ValueError(f"unknown router type {router_type!r}; expected one of {', '.join(ROUTER_TYPES)}")
