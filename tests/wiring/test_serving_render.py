"""`aiinfra render` of a spec serving through HAProxy: the haproxy.cfg and prometheus.yml it prints are what
HAProxy and promtool accept, and follow the spec (slots, weights, the premium header rule)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_aiinfra.spec.load import load_spec
from airflow_aiinfra.wiring.serving_render import render_serving
from tests.conftest import ROOT


def test_rendered_haproxy_and_prometheus_configs_are_valid(tmp_path: Path) -> None:
    spec = load_spec(ROOT / "specs" / "recsys.yaml").spec
    haproxy_cfg, prometheus_yml = (chunk.split("\n", 1)[1] for chunk in render_serving(spec))
    assert "use-server v1.1 if { req.fhdr(X-User-Type,-1) -m str premium }" in haproxy_cfg
    assert "server v1.0 127.0.0.1:8001 weight 80" in haproxy_cfg and "server v1.1 127.0.0.1:8002 weight 20" in haproxy_cfg
    assert "retries 0" in haproxy_cfg and "retry-on" not in haproxy_cfg
    (tmp_path / "haproxy.cfg").write_text(haproxy_cfg)
    (tmp_path / "prometheus.yml").write_text(prometheus_yml)
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    promtool = shutil.which("promtool")
    if not Path(haproxy).exists() or promtool is None:
        pytest.skip("haproxy/promtool not installed (scripts/install_serving_tools.sh)")
    subprocess.run([haproxy, "-c", "-q", "-f", str(tmp_path / "haproxy.cfg")], check=True)
    subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], check=True, capture_output=True)
