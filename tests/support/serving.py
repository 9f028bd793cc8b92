"""Real serving processes on free ports for tests, benchmarks and the demo: model servers, HAProxy, Prometheus.

Each class starts its process in its own session (so a stop reaches its children too), waits until it
answers, and stops exactly the process it started (SIGTERM, then SIGKILL). Logs go to the work directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from airflow_aiinfra.hooks.haproxy import HaproxyHook
from airflow_aiinfra.serving.config import ServerConfig
from airflow_aiinfra.serving.haproxy_config import HaproxySite, render_haproxy_config

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: all sockets stay bound until every port is picked, so two servers of one
    stack never get the same port (calling :func:`free_port` n times may hand one port out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def need_binary(request: pytest.FixtureRequest, name: str) -> str:
    """Path of executable ``name``; skips the test when it is missing, fails under --require-services."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if path:
        return path
    message = f"{name} is not installed (sudo bash scripts/install_serving_tools.sh)"
    if request.config.getoption("--require-services"):
        pytest.fail(message + " (--require-services is set)")
    pytest.skip(message)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except OSError:
        return False


class Process:
    """One child process with its log file; ``stop()`` ends it and only it."""

    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env,
                                     start_new_session=True)
        log.close()

    def wait_until(self, check: object, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            if check():  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not {what} within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process_group(self.proc.pid)
            self.proc.wait(10)


def process_alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_process_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, the process group of ``pid``: a process this test run started in its own session
    (``start_new_session``), possibly from another xdist worker."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return
            time.sleep(0.05)


class ModelServer(Process):
    """``python -m airflow_aiinfra.serving`` for one slot."""

    def __init__(self, workdir: Path, config: ServerConfig) -> None:
        self.name = f"model-server-{config.slot}"
        super().__init__(workdir)
        self.config = config
        self.url = f"http://{config.host}:{config.port}"
        self.address = f"{config.host}:{config.port}"

    def start(self) -> ModelServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AIRFLOW"))}
        env["GIT_PYTHON_REFRESH"] = "quiet"
        env["PYTHONPATH"] = str(ROOT)
        self.spawn([sys.executable, "-m", "airflow_aiinfra.serving", *self.config.argv()], env)
        return self

    def wait_ready(self, timeout: float = 90) -> ModelServer:
        """Wait until a model is served."""
        self.wait_until(lambda: http_ok(self.url + "/ready"), timeout, "ready")
        return self

    def wait_listening(self, timeout: float = 90) -> ModelServer:
        """Wait until the server answers (an empty slot is listening but not ready)."""
        self.wait_until(lambda: http_ok(self.url + "/admin/model"), timeout, "listening")
        return self


class Haproxy(Process):
    name = "haproxy"

    def __init__(self, workdir: Path, site: HaproxySite, binary: str = "haproxy") -> None:
        super().__init__(workdir)
        self.site = site
        self.binary = binary
        self.config_path = workdir / "haproxy.cfg"
        self.url = f"http://{site.bind}"
        self.hook = HaproxyHook(address=site.runtime_api)

    def start(self) -> Haproxy:
        self.config_path.write_text(render_haproxy_config(self.site))
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected {self.config_path}: {check.stdout}{check.stderr}")
        self.spawn([self.binary, "-f", str(self.config_path), "-db"])
        self.wait_until(lambda: self.hook.test_connection()[0], 15, "answering on its runtime API")
        return self


class Prometheus(Process):
    """Prometheus scraping ``jobs`` (job name → host:port targets) every ``interval``."""

    name = "prometheus"

    def __init__(self, workdir: Path, jobs: dict[str, list[str]], binary: str = "prometheus", interval: str = "1s",
                 port: int | None = None) -> None:
        super().__init__(workdir)
        self.jobs, self.binary, self.interval = jobs, binary, interval
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        lines = ["global:", f"  scrape_interval: {self.interval}", f"  evaluation_interval: {self.interval}",
                 "scrape_configs:"]
        for job, targets in self.jobs.items():
            lines += [f"  - job_name: {job}", "    static_configs:",
                      "      - targets: [" + ", ".join(f"'{t}'" for t in targets) + "]"]
        return "\n".join(lines) + "\n"

    def start(self) -> Prometheus:
        config = self.workdir / "prometheus.yml"
        config.write_text(self.config())
        self.spawn([self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])
        self.wait_until(lambda: http_ok(self.url + "/-/ready"), 30, "ready")
        return self

    def wait_for_targets(self, timeout: float = 20) -> None:
        import json

        def all_up() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/api/v1/targets", timeout=2) as r:
                    active = json.load(r)["data"]["activeTargets"]
            except OSError:
                return False
            return bool(active) and all(t["health"] == "up" for t in active)

        self.wait_until(all_up, timeout, "scraping all targets")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A /metrics page as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def request_counts(*servers: ModelServer) -> dict[tuple[str, str, str], float]:
    """Scoring requests counted by the servers themselves: {(slot, model_version, status): count}."""
    out: dict[tuple[str, str, str], float] = {}
    for server in servers:
        for (name, labels), value in scrape(server.url + "/metrics").items():
            if name == "aiinfra_model_requests_total":
                d = dict(labels)
                out[(d["slot"], d["model_version"], d["status"])] = value
    return out


def count_delta(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


class NamedBackend:
    """A trivial HTTP server in this process answering every request 200 with ``X-Model-Version: <name>``:
    a stand-in model server for router tests that need no model (cheap to start, no MLflow)."""

    def __init__(self, name: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = b'{"predictions": [0]}'
                self.send_response(200)
                self.send_header("X-Model-Version", name)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # HAProxy closing idle keep-alive connections when it stops: not worth a traceback

        self.name = name
        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
