"""FeastHook: RepoConfig from plan payloads + Airflow connections, error mapping, and the replay
policy, checked for real on SQLite, the machine's Redis and Postgres with the same assertions."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk import Connection

from airflow_aiinfra.contract import FeastStorePayload
from airflow_aiinfra.errors import FeastPermanentError, FeastTransientError
from airflow_aiinfra.features.repo_config import repo_config_dict
from airflow_aiinfra.features.values import same
from airflow_aiinfra.hooks.feast import Definitions, FeastHook, feast_errors
from airflow_aiinfra.plan.build import build_plans
from airflow_aiinfra.plan.context import PlanOptions
from airflow_aiinfra.spec.load import load_spec_text
from tests.conftest import fresh_database
from tests.feast_support import (  # noqa: F401
    PG_DB,
    PG_DB_BASE,
    REDIS_DB,
    T0,
    USERS,
    dump_online,
    inline_spec,
    latest_in,
    redis_db,
    write_clicks,
)


def _conn(conn_id: str, uri: str) -> Connection:
    return Connection.from_uri(uri, conn_id=conn_id)


# --- pure: configuration ------------------------------------------------------------------------------
def test_inline_store_defaults_to_sqlite_under_feast_home(tmp_path: Path) -> None:
    store = FeastStorePayload(project="clicks", online_store_type="sqlite", offline_store_type="file")
    data = repo_config_dict(store, lambda c: pytest.fail("no connection needed"), home=tmp_path)
    assert data["online_store"] == {"type": "sqlite", "path": str(tmp_path / "clicks" / "online_store.db")}
    assert data["registry"]["path"] == str(tmp_path / "clicks" / "registry.db")
    assert data["offline_store"] == {"type": "file"}


@pytest.mark.parametrize(("uri", "overwrite", "expected"), [
    pytest.param("redis://127.0.0.1:6379/11", False, "127.0.0.1:6379,db=11", id="db-from-path"),
    pytest.param("redis://:s3cret@cache.internal:6380/?db=2&ssl=true", True,
                 "cache.internal:6380,db=2,password=s3cret,ssl=true", id="password-ssl-extra-db"),
])
def test_redis_connection_string_comes_from_the_airflow_connection(uri: str, overwrite: bool, expected: str) -> None:
    store = FeastStorePayload(project="p", online_store_type="redis", online_store_conn_id="r",
                          allow_overwrite_newer=overwrite)
    data = repo_config_dict(store, lambda cid: _conn(cid, uri), home=Path("/nonexistent"))
    # newest-wins is Redis's own rule; the overwrite policy turns its timestamp check off
    assert data["online_store"] == {"type": "redis", "connection_string": expected, "skip_dedup": overwrite}


def test_repo_mode_keeps_the_repos_store_unless_the_spec_sets_one(tmp_path: Path) -> None:
    (tmp_path / "feature_store.yaml").write_text(
        "project: demo\nregistry: data/registry.db\nprovider: local\nonline_store:\n  type: dynamodb\n")
    store = FeastStorePayload(project="ignored", repo_path=str(tmp_path))
    with pytest.raises(FeastPermanentError, match="'dynamodb' cannot guarantee the replay policy"):
        repo_config_dict(store, lambda c: None)
    data = repo_config_dict(dataclasses.replace(store, online_store_type="sqlite"), lambda c: None)
    assert data["project"] == "demo" and data["online_store"] == {"type": "sqlite", "path": "data/online_store.db"}


def _real_sqlite_error(tmp_path: Path, kind: str) -> sqlite3.OperationalError:
    """A real SQLite failure: a table that was never created, or a database another connection holds locked."""
    db = tmp_path / "online.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    try:
        if kind == "locked":
            holder.execute("BEGIN EXCLUSIVE")
            sqlite3.connect(db, timeout=0).execute("SELECT * FROM t")
        sqlite3.connect(db).execute("SELECT * FROM p_never_applied")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        holder.close()
    raise AssertionError("no error")


def _mapped(exc: BaseException) -> type:
    with pytest.raises((FeastTransientError, FeastPermanentError)) as info, feast_errors("materializing"):
        raise exc
    assert str(info.value).startswith("materializing: ")
    return type(info.value)


@pytest.mark.parametrize(("make", "kind"), [
    pytest.param(lambda p: ConnectionRefusedError(111, "refused"), FeastTransientError, id="refused"),
    pytest.param(lambda p: FileNotFoundError("data/x.parquet"), FeastTransientError, id="source-not-landed"),
    pytest.param(lambda p: _real_sqlite_error(p, "locked"), FeastTransientError, id="sqlite-locked"),
    pytest.param(lambda p: _real_sqlite_error(p, "missing"), FeastPermanentError, id="not-applied"),
    pytest.param(lambda p: ValueError("bad schema"), FeastPermanentError, id="bad-definition"),
])
def test_errors_are_mapped_to_retry_or_fail(make, kind: type, tmp_path: Path) -> None:
    assert _mapped(make(tmp_path)) is kind


def test_store_specific_errors_are_mapped() -> None:
    import redis
    from feast.errors import FeatureViewNotFoundException

    assert _mapped(redis.exceptions.ConnectionError("down")) is FeastTransientError
    assert _mapped(FeatureViewNotFoundException("v", "p")) is FeastPermanentError


def test_unknown_errors_pass_unchanged() -> None:
    with pytest.raises(ZeroDivisionError), feast_errors("x"):
        raise ZeroDivisionError


@pytest.mark.parametrize(("a", "b", "equal"), [
    pytest.param(0.5, 0.5000000001, True, id="float-rounding"),
    pytest.param(None, float("nan"), True, id="missing-both"),
    pytest.param({"a": [1, 2]}, '{"a": [1, 2]}', True, id="json-vs-object"),
    pytest.param(3, 4, False, id="int"),
    pytest.param(None, 0.0, False, id="missing-online"),
])
def test_online_and_offline_values_compare_by_meaning(a, b, equal: bool) -> None:
    assert same(a, b) is equal


# --- real stores: one replay policy everywhere ---------------------------------------------------------
STORES = {
    "sqlite": "",
    "redis": "  online_store: {type: redis, conn_id: feast_redis}\n",
    "postgres": "  online_store: {type: postgres, conn_id: feast_pg}\n",
}


@pytest.fixture
def make_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    monkeypatch.setenv("AIRFLOW__AIINFRA__FEAST_HOME", str(tmp_path / "feast"))
    write_clicks(tmp_path / "data" / "clicks.parquet")

    def make(kind: str, overwrite: bool = False, name: str = "clicks") -> FeastHook:
        if kind == "redis":
            url = request.getfixturevalue("redis_url")
            request.getfixturevalue("redis_db")
            monkeypatch.setenv("AIRFLOW_CONN_FEAST_REDIS", f"{url}/{REDIS_DB}")
        if kind == "postgres":
            request.getfixturevalue("postgres_url")
            fresh_database(PG_DB_BASE)
            monkeypatch.setenv("AIRFLOW_CONN_FEAST_PG", f"postgresql://postgres@127.0.0.1:5432/{PG_DB}")
        extra = STORES[kind] + ("  materialize: {allow_overwrite_newer: true}\n" if overwrite else "")
        loaded = load_spec_text(inline_spec(name, extra=extra), f"{name}.yaml")
        plan = build_plans(loaded, PlanOptions(bundle_root=str(tmp_path)))[0]
        p = plan.task("features.apply").payload
        hook = FeastHook(FeastStorePayload(**{f.name: getattr(p, f.name) for f in dataclasses.fields(FeastStorePayload)}))
        hook.definitions = Definitions(p.entities, p.sources, p.feature_views)
        return hook

    return make


def _online(hook: FeastHook) -> dict[int, int | None]:
    got = hook.online(["user_clicks:user_click_count"], [{"user_id": u} for u in range(1, USERS + 1)])
    return dict(zip(got["user_id"], got["user_click_count"], strict=True))


def _window(a: int, b: int):
    return T0 + timedelta(hours=a), T0 + timedelta(hours=b)


@pytest.mark.integration
@pytest.mark.parametrize("overwrite", [pytest.param(False, id="newest-wins"), pytest.param(True, id="overwrite")])
@pytest.mark.parametrize("kind", list(STORES))
def test_replay_semantics_are_identical_on_every_store(make_hook, kind: str, overwrite: bool) -> None:
    hook = make_hook(kind, overwrite)
    assert hook.apply(hook.definitions)["changed"]
    assert hook.apply(hook.definitions) == {"changed": [], "infra": [], "objects": 4}  # applying twice: no change

    rows = hook.materialize(*_window(10, 12), ["user_clicks"])
    assert rows == {"user_clicks": USERS}  # the latest row of each user in [10h, 12h)
    newer = {u: latest_in(u, 10, 12) for u in range(1, USERS + 1)}
    assert _online(hook) == newer

    hook.materialize(*_window(2, 4), ["user_clicks"])  # replay an older window
    older = {u: latest_in(u, 2, 4) for u in range(1, USERS + 1)}
    assert _online(hook) == (older if overwrite else newer)

    before = dump_online(hook, kind)
    hook.materialize(*_window(2, 4), ["user_clicks"])  # the same window again
    assert dump_online(hook, kind) == before


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_materialize_writes_exactly_the_half_open_interval(make_hook, kind: str) -> None:
    hook = make_hook(kind)
    hook.apply(hook.definitions)
    rows = hook.materialize(*_window(10, 11), [])  # [] means every online view
    # users with (user + 10) % 5 == 0 have no row at 10h; the row at 11h belongs to the next window
    skipped = [u for u in range(1, USERS + 1) if (u + 10) % 5 == 0]
    assert rows == {"user_clicks": USERS - len(skipped)}
    assert _online(hook) == {u: (None if u in skipped else latest_in(u, 10, 11)) for u in range(1, USERS + 1)}


@pytest.mark.integration
def test_unreachable_store_is_retryable_and_records_no_window(make_hook, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook("sqlite")
    hook.apply(hook.definitions)
    # the same project, now pointed at a Redis port where nothing listens
    monkeypatch.setenv("AIRFLOW_CONN_DEAD_REDIS", "redis://127.0.0.1:1/0")
    dead = FeastHook(dataclasses.replace(hook.settings, online_store_type="redis", online_store_conn_id="dead_redis"))
    with pytest.raises(FeastTransientError, match="materializing .*ConnectionError"):
        dead.materialize(*_window(10, 11), ["user_clicks"])
    assert dead.store.get_feature_view("user_clicks").materialization_intervals == []
