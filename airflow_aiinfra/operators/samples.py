"""Sample data values on their way to a task log, XCom or the MLflow run: the one place they pass.

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


def _redact(value: Any) -> Any:
    """Airflow's masker (the instance the task runner uses; ``airflow.sdk.execution_time.secrets_masker`` is a
    deprecated alias of the same module in Airflow 3.3)."""
    from airflow.sdk._shared.secrets_masker import redact

    return redact(value)


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


def samples_on() -> bool:
    return config.data_samples()


def for_output(result: Any) -> Any:
    """``result`` as it may be logged and pushed: masked secrets, and no samples when they are turned off."""
    return _redact(result if samples_on() else _drop_samples(result))
