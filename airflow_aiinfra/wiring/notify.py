"""Spec ``notify`` → Airflow task callbacks (e-mail through the SMTP provider, webhooks through an HTTP
connection holding a Slack-compatible incoming-webhook URL)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseNotifier


class WebhookNotifier(BaseNotifier):
    """POSTs ``{"text": ...}`` to the URL of an Airflow connection (the URL, often secret, lives there)."""

    template_fields = ("message",)

    def __init__(self, *, conn_id: str, message: str) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.message = message

    def notify(self, context: Any) -> None:
        import requests
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.conn_id)
        url = conn.host if (conn.host or "").startswith("http") else conn.get_uri()
        requests.post(url, json={"text": self.message}, timeout=10).raise_for_status()


_MESSAGE = {
    "failure": "aiinfra: task {{ ti.task_id }} of {{ dag.dag_id }} failed (run {{ run_id }}, try {{ ti.try_number }})",
    "retry": "aiinfra: task {{ ti.task_id }} of {{ dag.dag_id }} is retrying (run {{ run_id }})",
    "success": "aiinfra: task {{ ti.task_id }} of {{ dag.dag_id }} succeeded (run {{ run_id }})",
}


def callbacks(notify: dict[str, Any] | None) -> dict[str, list[Any]]:
    """default_args entries (on_failure_callback, ...) for a spec's notify section."""
    if not notify:
        return {}
    out: dict[str, list[Any]] = {}
    for event in notify.get("on", ["failure"]):
        notifiers: list[Any] = []
        if notify.get("email"):
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            notifiers.append(SmtpNotifier(to=notify["email"], subject=_MESSAGE[event], html_content=_MESSAGE[event]))
        if notify.get("webhook_conn_id"):
            notifiers.append(WebhookNotifier(conn_id=notify["webhook_conn_id"], message=_MESSAGE[event]))
        out[f"on_{event}_callback"] = notifiers
    return out
