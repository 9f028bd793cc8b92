"""The model server's settings and command line: light to import (no FastAPI, MLflow or pandas here)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

ADMIN_TOKEN_ENV = "AIINFRA_SERVING_ADMIN_TOKEN"  # read from the environment: a flag would show in `ps`
_SLOT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class ServerConfig:
    """One slot's server. ``model_uri`` may be None: the server starts empty (not ready) and waits for
    ``POST /admin/load``."""

    slot: str
    port: int
    host: str = "127.0.0.1"
    model_uri: str | None = None
    tracking_uri: str | None = None
    request_log_dir: Path | None = None
    sample_rate: float = 0.01
    threads: int = 16
    log_level: str = "warning"

    def __post_init__(self) -> None:
        if not _SLOT.fullmatch(self.slot):
            raise ValueError(f"slot {self.slot!r} must be 1-64 characters of [A-Za-z0-9_.-] (e.g. stable, canary)")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} must be 1..65535")
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ValueError(f"sample rate {self.sample_rate} must be a fraction in [0, 1] (e.g. 0.01 logs 1 %)")
        if self.threads < 1:
            raise ValueError(f"threads {self.threads} must be at least 1")

    def argv(self) -> list[str]:
        """The command-line arguments that rebuild this config (for starting the server as a process)."""
        args = ["--slot", self.slot, "--port", str(self.port), "--host", self.host,
                "--sample-rate", repr(self.sample_rate), "--threads", str(self.threads), "--log-level", self.log_level]
        if self.model_uri:
            args += ["--model-uri", self.model_uri]
        if self.tracking_uri:
            args += ["--tracking-uri", self.tracking_uri]
        if self.request_log_dir is not None:
            args += ["--request-log-dir", str(self.request_log_dir)]
        return args


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_aiinfra.serving",
        description="Serve one model slot with MLflow's scoring app, Prometheus metrics and an admin API. "
        f"Set {ADMIN_TOKEN_ENV} to require 'Authorization: Bearer <token>' on /admin/*.",
    )
    parser.add_argument("--slot", required=True, help="slot name, a label on every metric (stable, canary)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-uri", help="model to serve at start, e.g. models:/recsys@champion; none: start empty")
    parser.add_argument("--tracking-uri", help="MLflow tracking/registry URI that resolves models:/ URIs")
    parser.add_argument("--request-log-dir", type=Path, help="write sampled requests to DIR/<slot>/<YYYYmmddHH>.jsonl")
    parser.add_argument("--sample-rate", type=float, default=0.01, help="fraction of scoring requests logged")
    parser.add_argument("--threads", type=int, default=16, help="threads that run predictions and loads")
    parser.add_argument("--log-level", default="warning")
    ns = parser.parse_args(argv)
    try:
        return ServerConfig(
            slot=ns.slot, port=ns.port, host=ns.host, model_uri=ns.model_uri, tracking_uri=ns.tracking_uri,
            request_log_dir=ns.request_log_dir, sample_rate=ns.sample_rate, threads=ns.threads,
            log_level=ns.log_level,
        )
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits
