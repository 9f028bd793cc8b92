"""The package's exceptions, and the one helper that maps a library's exceptions into them.

The tree::

    ValueError
    ├── SpecError                  a spec is invalid: one located SpecIssue per problem
    ├── RoutingSyntaxError         a routing condition does not parse (raised inside spec validation)
    └── RouterExpressionError      a routing condition a router cannot express safely (raised while rendering)
    AiinfraError                   raised by hooks and operators at run time
    ├── TransientError             the service or data may be there on the next try: Airflow retries it
    │   ├── MlflowTransientError       tracking server unreachable, 5xx, 429
    │   ├── FeastTransientError        a store unreachable or busy, source data not there yet
    │   ├── DataSourceUnavailable      a gate's data cannot be reached (missing file, database down)
    │   ├── RouterTransientError       a traffic router cannot be reached
    │   ├── PrometheusTransientError   Prometheus unreachable, 5xx, 429, a timeout
    │   ├── ServingTransientError      a model server unreachable or still loading
    │   └── KubeTransientError         the Kubernetes API unreachable, 429, 5xx
    ├── PermanentError             the request itself is wrong: retrying cannot help; operators turn it
    │   │                          into a task failure without retries (operators/failures.py)
    │   ├── MlflowPermanentError       4xx, a deleted experiment, a metric gate that fails
    │   ├── FeastPermanentError        bad definitions, a store that was never applied
    │   ├── DataSourceInvalid          a gate's data was reached but cannot be read as configured
    │   ├── DataLocationRefused        a path is not a data location (code, /proc, outside data_roots)
    │   ├── GateDefinitionError        a gate's expectations or suite file are wrong
    │   ├── RouterPermanentError       the router refuses the change (no such backend or server)
    │   ├── PrometheusPermanentError   a query Prometheus refuses (bad PromQL)
    │   ├── ServingPermanentError      a model server refuses a version (unknown alias or version)
    │   └── KubePermanentError         the Kubernetes API refuses the request (a bad body, no rights)
    └── LocalRunError              a stage run by a local runner failed, timed out or was killed

Transient errors are never caught by the package: they propagate and Airflow's retries are the outer loop.
Task failures that carry an Airflow meaning (``DataQualityFailed``, ``FeastCheckFailed``: subclasses of
``AirflowFailException``) live beside their operators, since this module must not import Airflow.

Hooks map third-party exceptions at their boundary with :func:`map_errors` and a table of exception
type → package error type (as httpx maps httpcore's), never by class-name strings or message text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SpecIssue:
    """One problem in a spec, located in its file."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


class SpecError(ValueError):
    """A spec is invalid; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class RoutingSyntaxError(ValueError):
    """A routing condition does not parse; the message says where and what was expected."""


class AiinfraError(Exception):
    """Base of the runtime errors raised by operators and hooks."""


class TransientError(AiinfraError):
    """A service could not be reached or answered 5xx: retrying may succeed."""


class PermanentError(AiinfraError):
    """The request itself is wrong (4xx, bad input): retrying cannot succeed."""


class MlflowTransientError(TransientError):
    pass


class MlflowPermanentError(PermanentError):
    pass


class FeastTransientError(TransientError):
    pass


class FeastPermanentError(PermanentError):
    pass


class DataSourceUnavailable(TransientError):
    """The data a quality gate checks could not be read (missing file, database down)."""


class DataSourceInvalid(PermanentError):
    """The data was reached but cannot be read as configured (bad SQL, not Parquet/CSV)."""


class DataLocationRefused(PermanentError):
    """A gate, feature source or output path is not a data location (``airflow_aiinfra.locations``)."""


class GateDefinitionError(PermanentError):
    """The gate's expectations or suite are wrong (unknown expectation, bad arguments, bad suite file)."""


class RouterTransientError(TransientError):
    pass


class RouterPermanentError(PermanentError):
    pass


class KubeTransientError(TransientError):
    """The Kubernetes API could not be reached, or answered 429/5xx."""


class KubePermanentError(PermanentError):
    """The Kubernetes API refused the request (4xx other than 404/409/429): the body or rights are wrong."""


class LocalRunError(AiinfraError):
    """A stage run by a local runner failed, timed out or was killed; ``returncode`` is its exit code."""

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


class RouterExpressionError(ValueError):
    """A routing condition or name cannot be written safely into a router's configuration."""


class PrometheusTransientError(TransientError):
    pass


class PrometheusPermanentError(PermanentError):
    pass


class ServingTransientError(TransientError):
    """A model server could not be reached, timed out, or failed to load a model for a retryable reason."""


class ServingPermanentError(PermanentError):
    """A model server refused the request (unknown model version, bad URI, wrong admin token)."""


# exception type → package error type, or a function choosing one from the exception's structured data
# (an error code, an HTTP status): never from its message text.
ErrorTable = Mapping[type[BaseException], type[AiinfraError] | Callable[[BaseException], type[AiinfraError]]]


@contextmanager
def map_errors(table: ErrorTable | Callable[[], ErrorTable], action: str,
               hints: Mapping[type[AiinfraError], str] | None = None) -> Iterator[None]:
    """Re-raise an exception of a type in ``table`` (its most specific entry, by the exception's MRO) as the
    mapped package error, prefixed with ``action``; package errors and unmapped types pass unchanged.
    ``table`` may be a function, so the third-party types it names are imported only when something fails.
    ``hints`` adds the likely fix per package error type (``(is it running?)`` for a transient one)."""
    try:
        yield
    except AiinfraError:
        raise
    except Exception as exc:
        mapping = table() if callable(table) else table
        entry = next((mapping[t] for t in type(exc).__mro__ if t in mapping), None)
        if entry is None:
            raise
        target = entry if isinstance(entry, type) else entry(exc)
        hint = next((f" ({h})" for t, h in (hints or {}).items() if issubclass(target, t)), "")
        raise target(f"{action}: {type(exc).__name__}: {exc}{hint}") from exc
