"""The only task of a placeholder DAG for a broken spec: it fails with the spec's errors."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


class SpecErrorOperator(BaseOperator):
    """Fails (without retrying) and prints each spec error, so a broken spec is visible in the UI."""

    ui_color = "#fde2e1"

    def __init__(self, *, spec_file: str, errors: list[str], **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.spec_file = spec_file
        self.errors = errors

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        for line in self.errors:
            self.log.error("%s", line)
        raise AirflowFailException(
            f"spec {self.spec_file} is invalid ({len(self.errors)} error(s)); fix it and the real DAG replaces "
            "this placeholder:\n" + "\n".join(self.errors)
        )
