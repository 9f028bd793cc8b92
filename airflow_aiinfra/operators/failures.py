"""The one place a permanent error becomes a task failure without retries.

Hooks raise :class:`~airflow_aiinfra.errors.PermanentError` for what retrying cannot fix (a 4xx, bad
definitions, a failed metric gate); Airflow skips retries only for ``AirflowFailException``. Transient
errors pass through untouched, so Airflow retries them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException

from airflow_aiinfra.errors import PermanentError


@contextmanager
def permanent_fails(fail: type[AirflowFailException] = AirflowFailException, prefix: str = "") -> Iterator[None]:
    """Re-raise a PermanentError as ``fail`` (an AirflowFailException subclass), its message after ``prefix``."""
    try:
        yield
    except PermanentError as exc:
        raise fail(f"{prefix}{exc}") from exc
