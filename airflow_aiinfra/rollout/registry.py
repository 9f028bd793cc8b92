"""The registry side of a rollout: aliases ``champion``/``previous`` and the rolled-back tag, on an MlflowClient.

Plain functions over the client (tests hand them a real one): each reads before it writes, so a retried task
moves no alias twice. :func:`promote_aliases` returns the alias moves it made (0 when already done).
"""

from __future__ import annotations

from typing import Any

CHAMPION = "champion"
PREVIOUS = "previous"


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def set_champion(client: Any, name: str, version: str) -> int:
    """First deploy: ``champion`` → ``version``. Returns the alias moves made."""
    if alias_version(client, name, CHAMPION) == version:
        return 0
    client.set_registered_model_alias(name, CHAMPION, version)
    return 1


def promote_aliases(client: Any, name: str, version: str, old_champion: str | None) -> int:
    """``champion`` → ``version`` and ``previous`` → ``old_champion`` (the champion when the rollout began).
    Returns the alias moves made: 2 the first time, 0 when promoting again."""
    moves = 0
    if old_champion and old_champion != version and alias_version(client, name, PREVIOUS) != old_champion:
        client.set_registered_model_alias(name, PREVIOUS, old_champion)
        moves += 1
    if alias_version(client, name, CHAMPION) != version:
        client.set_registered_model_alias(name, CHAMPION, version)
        moves += 1
    return moves


def tag_rolled_back(client: Any, name: str, version: str, reason: dict[str, str]) -> None:
    """``rollout.status=rolled_back`` and ``rollout.<key>`` for the failing metric, value, threshold, step."""
    client.set_model_version_tag(name, version, "rollout.status", "rolled_back")
    for key, value in reason.items():
        client.set_model_version_tag(name, version, f"rollout.{key}", str(value)[:5000])


def tag_promoted(client: Any, name: str, version: str) -> None:
    client.set_model_version_tag(name, version, "rollout.status", "promoted")
