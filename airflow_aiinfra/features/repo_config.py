"""Feast's repo configuration from a store's settings (``contract.FeastStorePayload``, what every Feast
operator is given): pure, given a way to look up Airflow connections.

Store credentials come from Airflow connections (never from the spec). Nothing here imports Feast, so
tests check the exact configuration a store gets without one.

Replay policy (the same on every online store the spec allows; see docs/features.md): ``newest``
(default): an online value is only replaced by a row with a strictly newer event timestamp, so replaying an
old window never rolls newer values back and replaying the same window is a no-op; ``overwrite``
(``materialize.allow_overwrite_newer: true``): the replayed window's rows replace whatever is online. Redis
does ``newest`` natively and ``overwrite`` with ``skip_dedup``; SQLite and Postgres overwrite natively and
get ``newest`` from a trigger the hook installs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_aiinfra import config
from airflow_aiinfra.contract import FeastStorePayload
from airflow_aiinfra.errors import FeastPermanentError

REPLAY_SAFE_ONLINE_STORES = ("sqlite", "redis", "postgres")


def redis_connection_string(conn: Any) -> str:
    """An Airflow redis connection → Feast's ``host:port,db=N,password=...,ssl=true`` string."""
    extra = conn.extra_dejson or {}
    db = extra.get("db", conn.schema or 0)
    parts = [f"{conn.host or 'localhost'}:{conn.port or 6379}", f"db={int(db or 0)}"]
    if conn.password:
        parts.append(f"password={conn.password}")
    if conn.login:
        parts.append(f"username={conn.login}")
    if str(extra.get("ssl", "")).lower() in ("true", "1"):
        parts.append("ssl=true")
    return ",".join(parts)


def postgres_settings(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson or {}
    out = {"host": conn.host or "localhost", "port": int(conn.port or 5432), "database": conn.schema or "postgres",
           "user": conn.login or "postgres", "password": conn.password or ""}
    out["sslmode"] = extra.get("sslmode", "prefer")  # Feast's own default would demand SSL
    if extra.get("db_schema"):
        out["db_schema"] = extra["db_schema"]
    return out


def repo_config_dict(store: FeastStorePayload, get_connection: Callable[[str], Any],
                     home: Path | None = None) -> dict[str, Any]:
    """The keyword arguments of Feast's ``RepoConfig`` for a store (no Feast import). ``home`` defaults to
    ``[aiinfra] feast_home``; each inline project gets its own folder there."""
    project = store.project
    if store.repo_path:
        import yaml

        repo = Path(store.repo_path)
        try:
            data = yaml.safe_load((repo / "feature_store.yaml").read_text())
        except OSError as exc:
            raise FeastPermanentError(f"repo_path {str(repo)!r} is not a Feast repo: {exc}") from None
        data["repo_path"] = repo
    else:
        base = (home or config.feast_home()) / project
        data = {"project": project, "provider": "local", "repo_path": base,
                "registry": {"registry_type": "file", "path": str(base / "registry.db"), "cache_ttl_seconds": 60},
                "entity_key_serialization_version": 3, "online_store": {"type": "sqlite"}}
    kind = store.online_store_type
    if kind == "sqlite":
        default = str(data["repo_path"] / "online_store.db") if not store.repo_path else None
        data["online_store"] = {"type": "sqlite", "path": store.online_store_path or default
                                or (data.get("online_store") or {}).get("path", "data/online_store.db")}
    elif kind == "redis":
        conn = get_connection(_need(store.online_store_conn_id, "online_store.conn_id"))
        data["online_store"] = {"type": "redis", "connection_string": redis_connection_string(conn)}
    elif kind == "postgres":
        conn = get_connection(_need(store.online_store_conn_id, "online_store.conn_id"))
        data["online_store"] = {"type": "postgres", **postgres_settings(conn)}
    online_cfg = data.get("online_store") or {"type": "sqlite"}
    if online_cfg.get("type", "sqlite") not in REPLAY_SAFE_ONLINE_STORES:
        raise FeastPermanentError(
            f"online store type {online_cfg.get('type')!r} cannot guarantee the replay policy; "
            f"use one of {', '.join(REPLAY_SAFE_ONLINE_STORES)} (set feature_store.online_store)"
        )
    if online_cfg.get("type") == "redis":
        # newest-wins is Redis's own rule; overwrite mode skips its timestamp comparison
        online_cfg["skip_dedup"] = store.allow_overwrite_newer
    data["online_store"] = online_cfg
    if store.offline_store_type == "postgres":
        conn = get_connection(_need(store.offline_store_conn_id, "offline_store.conn_id"))
        data["offline_store"] = {"type": "postgres", **postgres_settings(conn)}
    elif store.offline_store_type is not None:
        data["offline_store"] = {"type": "file"}
    data["project"] = project if not store.repo_path else data.get("project", project)
    return data


def _need(conn_id: str | None, what: str) -> str:
    if not conn_id:
        raise FeastPermanentError(f"{what} is not set: this store type is reached through an Airflow connection")
    return conn_id
