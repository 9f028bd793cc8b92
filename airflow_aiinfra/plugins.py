"""The aiinfra Airflow plugin: serves the gates' Great Expectations Data Docs from the API server.

``GET /aiinfra/data-docs/<dag_id>/<run>/<gate>/...`` returns files of ``[aiinfra] data_docs_folder``
to users who may read that DAG's task instances (Airflow's own auth manager decides; the pages hold
samples of the data). Each site links its ``static/`` assets to one shared copy in the folder.
The "Data Docs" extra link of each gate task points here.
"""

from __future__ import annotations

from pathlib import Path

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse

from airflow_aiinfra.operators.data_quality import DataDocsLink

_PREFIX = "/aiinfra"


def _docs_root() -> Path:
    from airflow_aiinfra import config

    return config.data_docs_folder().resolve()


def _file(relative: str) -> FileResponse:
    """A file inside the docs folder; anything outside it (``..``, absolute) is 404."""
    root = _docs_root()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise HTTPException(404, "not found")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        raise HTTPException(404, "not found")
    return FileResponse(target)


def create_app() -> FastAPI:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    app = FastAPI(title="airflow-aiinfra", description="Great Expectations Data Docs of aiinfra gates")
    can_read = requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE)  # reads dag_id from the path
    app.state.can_read = can_read  # the dependency, for app.dependency_overrides in tests

    @app.get("/data-docs/{dag_id}/{path:path}", dependencies=[Depends(can_read)])
    def data_docs(dag_id: str, path: str) -> FileResponse:
        """A Data Docs page (or asset) of a gate run of DAG ``dag_id``."""
        return _file(f"{dag_id}/{path}")

    return app


class AiinfraPlugin(AirflowPlugin):
    name = "aiinfra"
    fastapi_apps = [{"app": create_app(), "url_prefix": _PREFIX, "name": "aiinfra Data Docs"}]
    operator_extra_links = [DataDocsLink()]
