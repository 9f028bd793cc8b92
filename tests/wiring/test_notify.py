"""notify: failure callbacks reach a real (local) webhook endpoint; e-mail goes through the SMTP provider."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from airflow_aiinfra.wiring.notify import WebhookNotifier, callbacks


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_webhook_notifier_posts_the_message(webhook, monkeypatch: pytest.MonkeyPatch) -> None:
    url, received = webhook
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_HOOK", json.dumps({"conn_type": "http", "host": url}))
    WebhookNotifier(conn_id="team_hook", message="stage failed").notify({})
    assert received == [{"text": "stage failed"}]


def test_callbacks_follow_the_notify_section() -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    cbs = callbacks({"email": ["ml@example.com"], "webhook_conn_id": "team_hook", "on": ["failure", "retry"]})
    assert set(cbs) == {"on_failure_callback", "on_retry_callback"}
    kinds = [type(n) for n in cbs["on_failure_callback"]]
    assert kinds == [SmtpNotifier, WebhookNotifier]
    assert callbacks(None) == {}
