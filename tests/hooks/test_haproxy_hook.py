"""HaproxyHook against real HAProxy processes: the real state read back, weights and states changed on the
runtime API (and traffic following at once), refusals and unreachable sockets mapped to router errors."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_aiinfra.errors import RouterPermanentError, RouterTransientError
from airflow_aiinfra.hooks.haproxy import HaproxyHook, parse_servers_state
from airflow_aiinfra.serving.haproxy_config import HaproxyServer, HaproxySite, HeaderRoute
from tests.support.serving import Haproxy, NamedBackend, free_port, need_binary

BACKEND = "model_serving"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, NamedBackend]]:
    named = {name: NamedBackend(name) for name in ("stable", "canary")}
    yield named
    for b in named.values():
        b.stop()


def make_site(backends: dict[str, NamedBackend], runtime_api: str) -> HaproxySite:
    return HaproxySite(
        bind=f"127.0.0.1:{free_port()}", runtime_api=runtime_api, backend=BACKEND,
        servers=(HaproxyServer("stable", backends["stable"].address, 80),
                 HaproxyServer("canary", backends["canary"].address, 20)),
        routes=(HeaderRoute("user_type == 'premium'", "canary"),),
    )


@pytest.fixture(scope="module")
def haproxy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            backends: dict[str, NamedBackend]) -> Iterator[Haproxy]:
    binary = need_binary(request, "haproxy")
    proc = Haproxy(tmp_path_factory.mktemp("haproxy"), make_site(backends, f"127.0.0.1:{free_port()}"), binary).start()
    yield proc
    proc.stop()


@pytest.fixture
def hook(haproxy: Haproxy) -> HaproxyHook:
    h = haproxy.hook
    for server, weight in (("stable", 80), ("canary", 20)):
        h.set_weight(BACKEND, server, weight)
        h.ready(BACKEND, server)
    return h


def served_by(url: str, n: int, headers: dict[str, str] | None = None) -> Counter[str]:
    out: Counter[str] = Counter()
    for _ in range(n):
        req = urllib.request.Request(url + "/invocations", data=b"{}", headers=headers or {})
        with urllib.request.urlopen(req, timeout=5) as r:
            out[r.headers["X-Model-Version"]] += 1
    return out


def test_reads_the_real_state(hook: HaproxyHook, backends: dict[str, NamedBackend]) -> None:
    servers = hook.servers(BACKEND)
    assert set(servers) == {"stable", "canary"}
    canary = servers["canary"]
    assert (canary.backend, canary.weight, canary.initial_weight, canary.admin, canary.operational) == (
        BACKEND, 20, 20, "ready", "running")
    assert f"{canary.address}:{canary.port}" == backends["canary"].address
    assert hook.weights(BACKEND) == {"stable": 80, "canary": 20}


def test_weights_change_with_no_reload_and_traffic_follows_at_once(hook: HaproxyHook, haproxy: Haproxy) -> None:
    assert served_by(haproxy.url, 50) == Counter({"stable": 40, "canary": 10})  # smooth weighted round robin
    hook.set_weight(BACKEND, "stable", 0)
    hook.set_weight(BACKEND, "canary", 100)
    started = time.monotonic()
    assert served_by(haproxy.url, 20) == Counter({"canary": 20})  # the very next requests already
    assert time.monotonic() - started < 2
    assert hook.weights(BACKEND) == {"stable": 0, "canary": 100}
    assert hook.servers(BACKEND)["canary"].initial_weight == 20  # the config file was not touched


def test_states_drain_maint_ready(hook: HaproxyHook, haproxy: Haproxy) -> None:
    premium = {"X-User-Type": "premium"}
    hook.drain(BACKEND, "canary")
    state = hook.servers(BACKEND)["canary"]
    assert state.admin == "drain" and state.weight == 20 and not state.receives_weighted_traffic
    assert hook.weights(BACKEND)["canary"] == 0
    assert served_by(haproxy.url, 20) == Counter({"stable": 20})
    assert served_by(haproxy.url, 5, premium) == Counter({"canary": 5})  # header rule still reaches it
    hook.maint(BACKEND, "canary")
    assert hook.servers(BACKEND)["canary"].admin == "maint"
    assert served_by(haproxy.url, 5, premium) == Counter({"stable": 5})  # ...and now falls back to stable
    hook.ready(BACKEND, "canary")
    assert hook.weights(BACKEND) == {"stable": 80, "canary": 20}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(lambda h: h.set_weight("nope", "canary", 5), r"No such backend\. \(command: 'set weight nope/canary 5'\)",
                     id="unknown-backend"),
        pytest.param(lambda h: h.set_weight(BACKEND, "nope", 5), r"No such server\.", id="unknown-server"),
        pytest.param(lambda h: h.servers("nope"), r"Can't find backend", id="show-unknown-backend"),
        pytest.param(lambda h: h.set_state(BACKEND, "nope", "drain"), r"No such server", id="state-unknown-server"),
    ],
)
def test_refusals_are_permanent(hook: HaproxyHook, call: object, match: str) -> None:
    with pytest.raises(RouterPermanentError, match=match):
        call(hook)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(lambda h: h.set_weight(f"{BACKEND}/stable 0; set weight {BACKEND}", "canary", 5),
                     "is not a HAProxy name", id="semicolon-in-backend"),
        pytest.param(lambda h: h.set_weight(BACKEND, "canary\nset weight model_serving/stable 0", 5),
                     "is not a HAProxy name", id="newline-in-server"),
        pytest.param(lambda h: h.command("show info; set weight model_serving/stable 0"), "one HAProxy command",
                     id="raw-command"),
        pytest.param(lambda h: h.set_weight(BACKEND, "canary", 257), r"must be an integer 0\.\.256", id="weight-high"),
        pytest.param(lambda h: h.set_weight(BACKEND, "canary", -1), "must be an integer", id="weight-negative"),
        pytest.param(lambda h: h.set_weight(BACKEND, "canary", True), "must be an integer", id="weight-bool"),
        pytest.param(lambda h: h.set_state(BACKEND, "canary", "up"), "must be one of ready, drain, maint", id="state"),
    ],
)
def test_bad_values_are_refused_before_anything_is_sent(hook: HaproxyHook, call: object, match: str) -> None:
    with pytest.raises(RouterPermanentError, match=match):
        call(hook)  # type: ignore[operator]
    assert hook.weights(BACKEND) == {"stable": 80, "canary": 20}


def test_connection_from_airflow_and_a_unix_socket(request: pytest.FixtureRequest, tmp_path: Path,
                                                   backends: dict[str, NamedBackend], haproxy: Haproxy,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = haproxy.site.runtime_api.split(":")
    monkeypatch.setenv("AIRFLOW_CONN_HAPROXY_T", f'{{"conn_type": "haproxy", "host": "{host}", "port": {port}}}')
    ok, message = HaproxyHook("haproxy_t").test_connection()
    assert ok and message.startswith("HAProxy 2.") and haproxy.site.runtime_api in message

    sock = tmp_path / "admin.sock"
    own = Haproxy(tmp_path / "own", make_site(backends, str(sock)), need_binary(request, "haproxy")).start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_HAPROXY_U", f'{{"conn_type": "haproxy", "extra": {{"socket": "{sock}"}}}}')
        unix = HaproxyHook("haproxy_u")
        unix.set_weight(BACKEND, "canary", 7)
        assert unix.weights(BACKEND)["canary"] == 7
    finally:
        own.stop()
    # the instance is gone: its socket (and any port nobody listens on) is a transient error
    with pytest.raises(RouterTransientError, match=r"HAProxy runtime API at .*(ConnectionRefusedError|FileNotFoundError).*is HAProxy running"):
        unix.servers(BACKEND)
    with pytest.raises(RouterTransientError, match="ConnectionRefusedError"):
        HaproxyHook(address=f"127.0.0.1:{free_port()}").set_weight(BACKEND, "canary", 1)


def test_a_runtime_api_that_never_answers_times_out_as_transient() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        hook = HaproxyHook(address=f"127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
        with pytest.raises(RouterTransientError, match="TimeoutError"):
            hook.servers(BACKEND)
    finally:
        for s in (*accepted, listener):
            s.close()


def test_missing_connection_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_HAPROXY_ABSENT", raising=False)
    with pytest.raises(RouterPermanentError, match="connection 'haproxy_absent' does not exist.*AIRFLOW_CONN_HAPROXY_ABSENT"):
        HaproxyHook("haproxy_absent").servers(BACKEND)


def test_parser_reads_admin_bits() -> None:
    header = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
              "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
              "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n")
    rows = ("3 be 1 a 10.0.0.1 2 0 5 5 1 1 0 2 0 0 0 0 - 80\n3 be 2 b 10.0.0.2 2 8 5 5 1 1 0 2 0 0 0 0 - 80\n"
            "3 be 3 c 10.0.0.3 0 1 5 5 1 1 0 2 0 0 0 0 - 80\n")
    states = {s.name: (s.admin, s.operational) for s in parse_servers_state(header + rows)}
    assert states == {"a": ("ready", "running"), "b": ("drain", "running"), "c": ("maint", "stopped")}
