"""The aiinfra plugin: Data Docs served under /aiinfra to users allowed to read the DAG's tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airflow_aiinfra.operators.data_quality import DataDocsLink
from airflow_aiinfra.plugins import AiinfraPlugin, create_app


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW__AIINFRA__DATA_DOCS_FOLDER", str(tmp_path / "docs"))
    site = tmp_path / "docs" / "dq__pipeline" / "run1" / "events"
    (site / "validations").mkdir(parents=True)
    (tmp_path / "docs" / "static" / "styles").mkdir(parents=True)
    (tmp_path / "docs" / "static" / "styles" / "a.css").write_text("body {}")
    (site / "static").symlink_to("../../../static")
    (site / "index.html").write_text("<html>index</html>")
    (site / "validations" / "page.html").write_text("<html>page</html>")
    (tmp_path / "secret.txt").write_text("outside the docs folder")
    return tmp_path / "docs"


def test_plugin_mounts_the_app_and_registers_the_link() -> None:
    (app,) = AiinfraPlugin.fastapi_apps
    assert app["url_prefix"] == "/aiinfra"
    assert [type(link) for link in AiinfraPlugin.operator_extra_links] == [DataDocsLink]


def test_pages_need_an_airflow_login(docs: Path) -> None:
    client = TestClient(create_app())
    assert client.get("/data-docs/dq__pipeline/run1/events/index.html").status_code == 401


@pytest.mark.parametrize(
    ("url", "status", "body"),
    [
        pytest.param("/data-docs/dq__pipeline/run1/events/validations/page.html", 200, "page", id="page"),
        pytest.param("/data-docs/dq__pipeline/run1/events/", 200, "index", id="folder-index"),
        pytest.param("/data-docs/dq__pipeline/run1/events/static/styles/a.css", 200, "body", id="shared-static"),
        pytest.param("/data-docs/dq__pipeline/run1/nope.html", 404, None, id="missing"),
        pytest.param("/data-docs/dq__pipeline/..%2F..%2Fsecret.txt", 404, None, id="traversal"),
    ],
)
def test_allowed_users_get_the_files_and_nothing_outside(docs: Path, url: str, status: int, body: str | None) -> None:
    app = create_app()
    app.dependency_overrides[app.state.can_read] = lambda: None  # Airflow's auth manager said yes
    resp = TestClient(app).get(url)
    assert resp.status_code == status
    if body:
        assert body in resp.text
