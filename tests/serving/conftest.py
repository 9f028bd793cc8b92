"""The serving stack, started once per test session (per xdist worker): a model registry, two model servers
(stable serves ``recsys@champion`` = recsys/1, canary serves recsys/2), HAProxy at 80/20 with the premium
header rule to the canary, and Prometheus scraping the servers and HAProxy every second.

Tests change weights and loaded versions: each starts with ``serving_stack.reset()``. Run these tests in
one worker with ``-n 2 --dist loadgroup`` (they carry ``xdist_group("serving-stack")``); with plain
``-n 2`` they still pass, each worker then starting its own stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from airflow_aiinfra.hooks.haproxy import HaproxyHook
from airflow_aiinfra.hooks.prometheus import PrometheusHook
from airflow_aiinfra.serving.client import ModelServerClient
from airflow_aiinfra.serving.config import ServerConfig
from airflow_aiinfra.serving.haproxy_config import HaproxyServer, HaproxySite, HeaderRoute
from tests.support.models import Registry, load_registry
from tests.support.serving import ROOT, Haproxy, ModelServer, Prometheus, free_port, need_binary

BACKEND = "model_serving"
PREMIUM = {"X-User-Type": "premium"}


@pytest.fixture(scope="session")
def serving_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The four ``recsys`` variants (tests/support/models.py), built once even with several xdist workers."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "serving-registry"
    with FileLock(str(shared / "serving-registry.lock")):
        registry = load_registry(root)
        if registry is None:  # in a child process: MLflow's imports and warnings stay out of the test process
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
            proc = subprocess.run([sys.executable, "-m", "tests.support.models", str(root)], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"building the test registry failed: {proc.stderr[-3000:]}")
            registry = load_registry(root)
        assert registry is not None
        return registry


@dataclass
class ServingStack:
    registry: Registry
    stable: ModelServer
    canary: ModelServer
    haproxy: Haproxy
    prometheus: Prometheus
    request_log_dir: Path

    @property
    def router(self) -> HaproxyHook:
        return self.haproxy.hook

    @property
    def scoring_url(self) -> str:
        return self.haproxy.url + "/invocations"

    @property
    def prom(self) -> PrometheusHook:
        return PrometheusHook(base_url=self.prometheus.url)

    def client(self, slot: str) -> ModelServerClient:
        return ModelServerClient((self.stable if slot == "stable" else self.canary).url)

    def reset(self, *, canary_variant: str = "good2", stable_weight: int = 80, canary_weight: int = 20) -> None:
        """Both servers ready, the given weights, stable on recsys/1 and the canary on ``canary_variant``."""
        self.client("stable").load(self.registry.uri("good"))
        self.client("canary").load(self.registry.uri(canary_variant))
        for server, weight in (("stable", stable_weight), ("canary", canary_weight)):
            self.router.set_weight(BACKEND, server, weight)
            self.router.ready(BACKEND, server)


@pytest.fixture(scope="session")
def serving_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  serving_registry: Registry) -> Iterator[ServingStack]:
    haproxy_bin, prometheus_bin = need_binary(request, "haproxy"), need_binary(request, "prometheus")
    work = tmp_path_factory.mktemp("serving-stack")
    log_dir = work / "request-log"
    servers = {
        slot: ModelServer(work / slot, ServerConfig(
            slot=slot, port=free_port(), model_uri=uri, tracking_uri=serving_registry.tracking_uri,
            request_log_dir=log_dir, sample_rate=0.2,
        ))
        for slot, uri in (("stable", f"models:/{serving_registry.name}@champion"),
                          ("canary", serving_registry.uri("good2")))
    }
    site = HaproxySite(
        bind=f"127.0.0.1:{free_port()}", runtime_api=f"127.0.0.1:{free_port()}", backend=BACKEND,
        servers=(HaproxyServer("stable", servers["stable"].address, 80),
                 HaproxyServer("canary", servers["canary"].address, 20)),
        routes=(HeaderRoute("user_type == 'premium'", "canary"),),
        exporter_bind=f"127.0.0.1:{free_port()}",
    )
    haproxy = Haproxy(work / "haproxy", site, haproxy_bin)
    prometheus = Prometheus(work / "prometheus", {
        "model-servers": [s.address for s in servers.values()], "haproxy": [site.exporter_bind or ""],
    }, prometheus_bin)
    started: list = []
    try:
        for server in servers.values():  # both import MLflow at once: about 7-10 s on two cores
            started.append(server.start())
        started.append(haproxy.start())
        started.append(prometheus.start())
        for server in servers.values():
            server.wait_ready()
        prometheus.wait_for_targets()
        yield ServingStack(serving_registry, servers["stable"], servers["canary"], haproxy, prometheus, log_dir)
    finally:
        for process in reversed(started):
            process.stop()
