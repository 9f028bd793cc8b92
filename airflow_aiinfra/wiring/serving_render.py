"""``aiinfra render`` for a spec's ``model_serving`` with router ``haproxy``: the ``haproxy.cfg`` and the
Prometheus scrape config the rollout expects, pure functions of the spec and where the processes listen.

The spec names slots, not addresses: the addresses are deployment facts (``aiinfra render --stable-address
--canary-address ...``; defaults are one machine's: model servers on 8001/8002, HAProxy on 8080, its runtime
API on 127.0.0.1:9999 and its Prometheus exporter on 8405). The runtime API listens on loopback only; the
model servers' admin API is refused on the public frontend (``serving/haproxy_config.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_aiinfra.serving.haproxy_config import (
    HaproxyServer,
    HaproxySite,
    HeaderRoute,
    render_haproxy_config,
)


@dataclass(frozen=True)
class ServingAddresses:
    stable: str = "127.0.0.1:8001"
    canary: str = "127.0.0.1:8002"
    bind: str = "0.0.0.0:8080"
    runtime_api: str = "127.0.0.1:9999"
    exporter: str = "127.0.0.1:8405"


def haproxy_site(spec: Any, where: ServingAddresses) -> HaproxySite:
    """The HAProxy site of ``spec.model_serving``: one server per slot at its declared weight, one
    ``use-server`` per non-default routing rule (to the slot it targets)."""
    ms = spec.model_serving
    router = ms.rollout.router
    servers, names = [], {}
    for v in ms.versions:
        name = v.server or v.version
        names[v.version] = name
        servers.append(HaproxyServer(name, where.canary if v.canary else where.stable, v.weight))
    routes = tuple(HeaderRoute(r.condition, names[r.target_version]) for r in ms.routing_rules
                   if r.condition.strip() != "default")
    return HaproxySite(bind=where.bind, runtime_api=where.runtime_api, servers=tuple(servers),
                       backend=router.backend, routes=routes, exporter_bind=where.exporter,
                       health_check_path="/ready")


def prometheus_config(spec: Any, where: ServingAddresses) -> dict[str, Any]:
    """Prometheus scraping both slots' model servers and HAProxy's exporter at the rollout's scrape interval."""
    interval = f"{int(spec.model_serving.rollout.scrape_interval.total_seconds())}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "model-servers", "static_configs": [{"targets": [where.stable, where.canary]}]},
            {"job_name": "haproxy", "static_configs": [{"targets": [where.exporter]}]},
        ],
    }


def render_serving(spec: Any, where: ServingAddresses | None = None) -> list[str]:
    """Rendered chunks (comment header + text), empty unless the spec serves through HAProxy."""
    import yaml

    ms = spec.model_serving
    if ms is None or ms.rollout.router.type != "haproxy":
        return []
    where = where or ServingAddresses()
    return [
        f"# haproxy.cfg of {spec.name} (router haproxy; addresses: {where})\n"
        + render_haproxy_config(haproxy_site(spec, where)),
        f"# prometheus.yml of {spec.name}\n" + yaml.safe_dump(prometheus_config(spec, where), sort_keys=False),
    ]
