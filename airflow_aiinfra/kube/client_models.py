"""The Kubernetes client's models, built cheaply and from their YAML form, in one place.

Every ``V1*`` model deep-copies a fresh client ``Configuration`` unless it is given one: sharing one is the
largest parse-time saving over hand-written KPO DAGs (benchmarks/README.md). Turning a YAML mapping
(camelCase keys, as users write them) into a model needs the client's private deserializer; this module is
the only caller, so a client upgrade that renames it breaks one function.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def shared_configuration() -> Any:
    from kubernetes.client.configuration import Configuration

    return Configuration()


@cache
def api_client() -> Any:
    from kubernetes.client import ApiClient

    return ApiClient(configuration=shared_configuration())


def from_yaml(data: Any, klass: str) -> Any:
    """A model (``klass`` such as ``"V1Affinity"``) from its YAML/JSON form. Raises ValueError/TypeError/
    AttributeError/KeyError on input the client rejects."""
    return api_client()._ApiClient__deserialize(data, klass)


def to_yaml(obj: Any) -> Any:
    """A model as plain JSON-able data with the API's camelCase keys (what the API server receives)."""
    return api_client().sanitize_for_serialization(obj)
