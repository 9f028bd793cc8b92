"""The base URL of an HTTP service from an Airflow connection, the same way for every hook of the package."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_aiinfra.errors import AiinfraError


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
