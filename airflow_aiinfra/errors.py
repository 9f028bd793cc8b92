"""The package's exceptions, in one small module.

A spec error is a ``ValueError`` carrying one located issue per problem. Each
integration has a transient (retry) / permanent (fail now) pair; hooks map the
third-party exceptions into these at their boundary, operators decide retrying.
"""

from __future__ import annotations

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


class RouterTransientError(TransientError):
    pass


class RouterPermanentError(PermanentError):
    pass


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
