"""pytest fixtures over the stand-in Kubernetes API; import them into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.k8s_api import FakeKubeAPI


@pytest.fixture
def k8s_api() -> Iterator[FakeKubeAPI]:
    """A fresh stand-in API server per test (its own port, store and journal)."""
    with FakeKubeAPI() as api:
        yield api


@pytest.fixture
def kubeconfig(k8s_api: FakeKubeAPI, tmp_path: Path) -> Path:
    return k8s_api.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def k8s_conn(k8s_api: FakeKubeAPI, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow connection id (from the environment) whose kubeconfig points at the stand-in server."""
    monkeypatch.setenv("AIRFLOW_CONN_K8S_FAKE", k8s_api.airflow_connection(kubeconfig))
    return "k8s_fake"
