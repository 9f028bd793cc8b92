"""Values on their way to a task log, XCom or the MLflow run that the package did not write itself (sample data
values, a local stage's output): the one place they pass Airflow's secrets masker.

A gate's unexpected values, a consistency check's mismatching online/offline values and the like are data, and
data may hold secrets (a token in a file, a password column). Every such result goes through ``for_output``
before anything logs or pushes it: the values Airflow's secrets masker knows (connection passwords, sensitive
variables, ``mask_secret``) are replaced by ``***`` (the log is masked by Airflow anyway, XCom is not), and with
``[aiinfra] data_samples = False`` the samples are dropped and only counts remain.
"""

from __future__ import annotations

from typing import Any

from airflow_aiinfra import config

# keys whose values are samples of the data itself (not counts, names or thresholds)
SAMPLE_KEYS = frozenset({"unexpected_sample", "examples", "partial_unexpected_list", "unexpected_list"})
_VALUE_KEYS = frozenset({"observed_value"})  # a sample when it is not a number (e.g. a column's max string)


def redact(value: Any) -> Any:
    """Airflow's masker: the instance the task runner's own code registers secrets with (connection passwords
    when a connection is fetched, ``airflow.sdk.log.mask_secret``); ``airflow.sdk.execution_time.secrets_masker``
    is a deprecated alias of it in Airflow 3.3. Applied here, not left to the log pipeline: XCom is never
    masked, and under ``airflow dags test`` the console log uses another masker instance (seen in
    tests/e2e/test_secrets_dags_test.py)."""
    from airflow.sdk._shared.secrets_masker import redact as airflow_redact

    return airflow_redact(value)


class MaskedLog:
    """A logger whose string arguments pass :func:`redact`: what runners stream a subprocess's output into."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def _call(self, level: str, msg: Any, *args: Any, **kwargs: Any) -> None:
        getattr(self._log, level)(redact(msg), *(redact(a) if isinstance(a, str) else a for a in args), **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._call("info", msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._call("warning", msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._call("error", msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def _drop_samples(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in SAMPLE_KEYS:
                continue
            if k in _VALUE_KEYS and not isinstance(v, int | float | type(None)):
                continue
            out[k] = _drop_samples(v)
        return out
    if isinstance(value, list):
        return [_drop_samples(v) for v in value]
    return value


def mask_files(folder: Any) -> None:
    """Rewrite the text files under ``folder`` (a run's Data Docs) with :func:`redact` applied, where it changes
    anything: GX renders unexpected values into the pages itself."""
    from pathlib import Path

    for path in Path(folder).rglob("*"):
        if path.suffix in (".html", ".json") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            masked = redact(text)
            if masked != text:
                path.write_text(masked, encoding="utf-8")


def samples_on() -> bool:
    return config.data_samples()


def for_output(result: Any) -> Any:
    """``result`` as it may be logged and pushed: masked secrets, and no samples when they are turned off."""
    return redact(result if samples_on() else _drop_samples(result))
