"""The serving stack: a model registry, two model servers (stable serves ``recsys@champion`` = recsys/1,
canary serves recsys/2), HAProxy at 80/20 with the premium header rule to the canary, and Prometheus
scraping the servers and HAProxy every second.

One stack per test run, even under ``pytest -n 2``: the first xdist worker that needs it starts it and
describes it in a shared file; other workers attach; the last worker to leave stops it (workers that died
do not count). Tests change weights and loaded versions, so they take turns (a cross-worker lock held for
each test) and each starts with ``serving_stack.reset()``. (``--dist loadgroup`` would be the usual tool,
but with pytest 9.2 xdist 3.8 cannot rename node ids, so it silently does not group.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
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
from tests.support.serving import (
    ROOT,
    Haproxy,
    ModelServer,
    Prometheus,
    free_ports,
    need_binary,
    process_alive,
    stop_process_group,
)

BACKEND = "model_serving"
PREMIUM = {"X-User-Type": "premium"}


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory all xdist workers of this run share (the per-worker base temp's parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_dir(tmp_path_factory) / "serving-registry"


@pytest.fixture(scope="session")
def serving_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The four ``recsys`` variants (tests/support/models.py), built once per run."""
    shared = shared_dir(tmp_path_factory)
    root = registry_root(tmp_path_factory)
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


@dataclass(frozen=True)
class Endpoint:
    url: str


@dataclass
class ServingStack:
    registry: Registry
    stable: Endpoint
    canary: Endpoint
    haproxy_url: str
    runtime_api: str
    exporter_url: str
    prometheus_url: str
    request_log_dir: Path
    pids: list[int]

    @property
    def router(self) -> HaproxyHook:
        return HaproxyHook(address=self.runtime_api)

    @property
    def scoring_url(self) -> str:
        return self.haproxy_url + "/invocations"

    @property
    def prom(self) -> PrometheusHook:
        return PrometheusHook(base_url=self.prometheus_url)

    def client(self, slot: str) -> ModelServerClient:
        return ModelServerClient((self.stable if slot == "stable" else self.canary).url)

    def reset(self, *, canary_variant: str = "good2", stable_weight: int = 80, canary_weight: int = 20) -> None:
        """Both servers ready, the given weights, stable on recsys/1 and the canary on ``canary_variant``."""
        self.client("stable").load(self.registry.uri("good"))
        self.client("canary").load(self.registry.uri(canary_variant))
        for server, weight in (("stable", stable_weight), ("canary", canary_weight)):
            self.router.set_weight(BACKEND, server, weight)
            self.router.ready(BACKEND, server)

    def to_json(self) -> str:
        data = {k: v for k, v in vars(self).items() if k != "registry"}
        data |= {"registry": str(self.registry.root), "stable": self.stable.url, "canary": self.canary.url,
                 "request_log_dir": str(self.request_log_dir)}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServingStack:
        data = json.loads(text)
        registry = load_registry(Path(data.pop("registry")))
        assert registry is not None
        return cls(registry=registry, stable=Endpoint(data.pop("stable")), canary=Endpoint(data.pop("canary")),
                   request_log_dir=Path(data.pop("request_log_dir")), **data)


def start_stack(work: Path, registry_root: Path, build_registry: Callable[[], Registry], haproxy_bin: str,
                prometheus_bin: str) -> ServingStack:
    """Start both servers empty (so their MLflow imports overlap with building the registry), HAProxy and
    Prometheus; then fill the slots through the admin API, as a deploy does: stable from the alias."""
    log_dir = work / "request-log"
    tracking_uri = f"sqlite:///{registry_root / 'mlflow.db'}"
    ports = iter(free_ports(6))
    servers = {
        slot: ModelServer(work / slot, ServerConfig(slot=slot, port=next(ports), tracking_uri=tracking_uri,
                                                    request_log_dir=log_dir, sample_rate=0.2))
        for slot in ("stable", "canary")
    }
    site = HaproxySite(
        bind=f"127.0.0.1:{next(ports)}", runtime_api=f"127.0.0.1:{next(ports)}", backend=BACKEND,
        servers=(HaproxyServer("stable", servers["stable"].address, 80),
                 HaproxyServer("canary", servers["canary"].address, 20)),
        routes=(HeaderRoute("user_type == 'premium'", "canary"),),
        exporter_bind=f"127.0.0.1:{next(ports)}",
    )
    haproxy = Haproxy(work / "haproxy", site, haproxy_bin)
    prometheus = Prometheus(work / "prometheus", {
        "model-servers": [s.address for s in servers.values()], "haproxy": [site.exporter_bind or ""],
    }, prometheus_bin, port=next(ports))
    started: list[ModelServer | Haproxy | Prometheus] = []
    try:
        for server in servers.values():
            started.append(server.start())
        registry = build_registry()
        assert registry.tracking_uri == tracking_uri
        started.append(haproxy.start())
        started.append(prometheus.start())
        for slot, uri in (("stable", f"models:/{registry.name}@champion"), ("canary", registry.uri("good2"))):
            servers[slot].wait_listening()
            client = ModelServerClient(servers[slot].url, timeout=120)
            client.load(uri)
            # the address answers as this slot's own process (not a process that took the port first)
            assert client.model().slot == slot and process_alive(servers[slot].pid), (slot, servers[slot].url)
        prometheus.wait_for_targets()
    except BaseException:
        for process in reversed(started):
            process.stop()
        raise
    return ServingStack(registry, Endpoint(servers["stable"].url), Endpoint(servers["canary"].url), haproxy.url,
                        site.runtime_api, f"http://{site.exporter_bind}/metrics", prometheus.url, log_dir,
                        [p.pid for p in started])


@pytest.fixture(scope="session")
def _shared_serving_stack(request: pytest.FixtureRequest,
                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    haproxy_bin, prometheus_bin = need_binary(request, "haproxy"), need_binary(request, "prometheus")
    shared = shared_dir(tmp_path_factory)
    state, users_file = shared / "serving-stack.json", shared / "serving-stack.users"
    lock = FileLock(str(shared / "serving-stack.lock"))
    me = os.getpid()
    with lock:
        users = json.loads(users_file.read_text()) if users_file.exists() else []
        stack = ServingStack.from_json(state.read_text()) if state.exists() else None
        if stack is None or not all(process_alive(p) for p in stack.pids):
            stack = start_stack(tmp_path_factory.mktemp("serving-stack"), registry_root(tmp_path_factory),
                                lambda: request.getfixturevalue("serving_registry"), haproxy_bin, prometheus_bin)
            state.write_text(stack.to_json())
        users_file.write_text(json.dumps([*users, me]))
    try:
        yield stack
    finally:
        with lock:
            users = [p for p in json.loads(users_file.read_text()) if p != me and process_alive(p)]
            users_file.write_text(json.dumps(users))
            if not users:
                for pid in reversed(stack.pids):
                    stop_process_group(pid)
                state.unlink(missing_ok=True)


@pytest.fixture
def serving_stack(_shared_serving_stack: ServingStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingStack]:
    """The stack, for this test alone: tests of other workers wait their turn."""
    with FileLock(str(shared_dir(tmp_path_factory) / "serving-stack.turn")):
        yield _shared_serving_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the stack first (stable order otherwise): xdist's load scheduling hands each worker a first
    chunk of consecutive tests, so they land on one worker while the other runs everything else, instead of
    one worker waiting for its turn on the stack."""
    items.sort(key=lambda item: "serving_stack" not in getattr(item, "fixturenames", ()))
