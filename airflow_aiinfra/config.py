"""Reading the ``[aiinfra]`` section of Airflow's configuration (defaults come from get_provider_info)."""

from __future__ import annotations

RUNNERS = ("kubernetes", "local")


def _conf():
    from airflow.sdk import conf

    return conf


def get(key: str, fallback: str = "") -> str:
    return _conf().get("aiinfra", key, fallback=fallback) or fallback


def runner() -> str:
    value = get("runner", "kubernetes").strip().lower()
    if value not in RUNNERS:
        raise ValueError(f"[aiinfra] runner = {value!r}; use one of {', '.join(RUNNERS)}")
    return value


def default_uid() -> int:
    return int(get("default_run_as_user", "1000"))


def parse_shards() -> int:
    return max(1, int(get("parse_shards", "1")))
