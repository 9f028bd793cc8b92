"""Airflow connections the same way for every hook and router of the package: a missing one is a permanent
error that says how to create it (or None where the connection is optional), and an HTTP service's base URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_aiinfra.errors import AiinfraError


def get_connection(conn_id: str, *, error: type[AiinfraError], conn_type: str, example: str,
                   optional: bool = False) -> Any:
    """The connection ``conn_id``; when it does not exist, None if ``optional``, else ``error`` naming the
    connection type and an ``AIRFLOW_CONN_<ID>`` example (``example`` is its value: a URI or JSON)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if optional:
            return None
        raise error(f"Airflow connection {conn_id!r} does not exist; create it with conn type {conn_type!r} (UI, "
                    f"`airflow connections add`, or e.g. AIRFLOW_CONN_{conn_id.upper()}='{example}')") from None


def connection_url(conn: Any, *, what: str, error: type[AiinfraError]) -> str:
    """``host`` may be a whole URL or a bare host (``extra.https: true`` picks https); ``port`` is added when the
    host has none. User info in the host is dropped: credentials stay in the connection's login/password."""
    host = (conn.host or "").strip()
    if not host:
        raise error(f"connection {conn.conn_id!r} has no host: set it to {what}")
    if "://" not in host:
        scheme = "https" if str((conn.extra_dejson or {}).get("https", "")).lower() == "true" else "http"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if conn.port and ":" not in netloc:
        netloc = f"{netloc}:{conn.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
