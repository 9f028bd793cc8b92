"""Shared fixtures: service availability (skip locally, fail under --require-services), an isolated
Airflow home, and `airflow dags test` in a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
VENV_BIN = Path(sys.executable).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        default=os.environ.get("AIINFRA_REQUIRE_SERVICES") == "1",
        help="fail (instead of skip) tests whose service (Postgres, Redis, ...) is not reachable; CI sets it",
    )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need_service(request: pytest.FixtureRequest, name: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if request.config.getoption("--require-services"):
        pytest.fail(message + " (--require-services is set)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    """The machine's shared PostgreSQL (trust auth). Tests create their own databases in it."""
    need_service(request, "PostgreSQL", "127.0.0.1", 5432)
    return "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    need_service(request, "Redis", "127.0.0.1", 6379)
    return "redis://127.0.0.1:6379"


_CREATED: set[str] = set()


def scoped(name: str) -> str:
    """A database name of this test process only: concurrent sessions and xdist workers on the shared
    Postgres never drop each other's databases."""
    return f"{name}_{os.getpid()}"


def fresh_database(name: str) -> str:
    """Drop and create database ``scoped(name)`` on the shared Postgres; returns its SQLAlchemy URL. Dropped
    again when the session ends."""
    import psycopg2

    real = scoped(name)
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{real}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{real}"')
    conn.close()
    _CREATED.add(real)
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{real}"


@pytest.fixture(scope="session", autouse=True)
def _drop_scratch_databases():
    yield
    if not _CREATED:
        return
    import psycopg2

    try:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    except psycopg2.Error:
        return
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in sorted(_CREATED):
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


if os.environ.get("PYTEST_XDIST_WORKER"):
    # An xdist worker's __main__ has neither a spec nor a file, which pyspark (imported by Great Expectations
    # when it is installed) takes for a doctest run and answers with sys.exit(0). Real task processes have one.
    _main = sys.modules["__main__"]
    if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
        _main.__file__ = "<xdist worker>"


@pytest.fixture(scope="session")
def migrated_sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow metadata DB migrated once per session; each airflow_home copies it."""
    home = tmp_path_factory.mktemp("airflow-template")
    env = airflow_env(home, home / "dags", home / "specs")
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    return home / "airflow.db"


def airflow_env(home: Path, dags: Path, specs: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__AIINFRA__SPECS_FOLDER=str(specs),
        AIRFLOW__AIINFRA__RUNNER="local",
        GX_ANALYTICS_ENABLED="False",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


class AirflowHome:
    """An isolated Airflow deployment: dags/ with our loader, specs/ with the test's specs."""

    def __init__(self, root: Path, template_db: Path) -> None:
        self.root = root
        self.home = root / "airflow"
        self.dags = root / "dags"
        self.specs = root / "specs"
        for d in (self.home, self.dags, self.specs):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dags" / "aiinfra_dags.py", self.dags / "aiinfra_dags.py")
        shutil.copy(template_db, self.home / "airflow.db")
        self.extra_env: dict[str, str] = {}

    def add_spec(self, name: str, text: str) -> Path:
        path = self.specs / name
        path.write_text(text)
        return path

    @property
    def env(self) -> dict[str, str]:
        return airflow_env(self.home, self.dags, self.specs, **self.extra_env)

    def airflow(self, *args: str, timeout: float = 600,
                env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "airflow"), *args], env={**self.env, **(env_extra or {})},
                              cwd=self.root, text=True, capture_output=True, timeout=timeout)

    def dags_test(self, dag_id: str, logical_date: str = "2024-06-01", *extra: str) -> subprocess.CompletedProcess[str]:
        return self.airflow("dags", "test", dag_id, logical_date, *extra)

    def task_states(self, dag_id: str, run_output: str) -> dict[str, str]:
        """Final state of each task in a `dags test` run, read back from the metadata DB."""
        import sqlite3

        con = sqlite3.connect(self.home / "airflow.db")
        rows = con.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? ORDER BY task_id", (dag_id,)
        ).fetchall()
        con.close()
        return dict(rows)


@pytest.fixture
def airflow_home(tmp_path: Path, migrated_sqlite_db: Path) -> AirflowHome:
    return AirflowHome(tmp_path, migrated_sqlite_db)


def run_succeeded(proc: subprocess.CompletedProcess[str]) -> bool:
    out = proc.stdout + proc.stderr
    return "DagRun Finished" in out and "state=success" in out.split("DagRun Finished", 1)[1].split("\n", 1)[0]


@pytest.fixture(scope="session")
def mlflow_server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` (backend on the shared Postgres, served artifacts) for the session."""
    from tests.mlflow_server import drop_database, start_server

    server = start_server(tmp_path_factory.mktemp("mlflow-server"))
    yield server
    server.stop()
    drop_database()
