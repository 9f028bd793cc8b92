"""Rendering haproxy.cfg: the grammar HAProxy expresses exactly, refusals naming what cannot be expressed,
injection attempts that never reach the file, `haproxy -c` on the result, and real HAProxy routing
header combinations exactly as the spec's own evaluator decides."""

from __future__ import annotations

import itertools
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_aiinfra.errors import RouterExpressionError
from airflow_aiinfra.serving.haproxy_config import (
    HaproxyServer,
    HaproxySite,
    HeaderRoute,
    acl_condition,
    header_for,
    render_haproxy_config,
)
from airflow_aiinfra.spec.routing import evaluate, parse_condition, variables
from tests.support.serving import Haproxy, NamedBackend, free_port, need_binary


def site(**overrides: object) -> HaproxySite:
    base: dict[str, object] = dict(
        bind="127.0.0.1:8080", runtime_api="127.0.0.1:9999",
        servers=(HaproxyServer("stable", "127.0.0.1:8001", 80), HaproxyServer("canary", "127.0.0.1:8002", 20)),
        routes=(HeaderRoute("user_type == 'premium'", "canary"),), exporter_bind="127.0.0.1:8405",
    )
    return HaproxySite(**(base | overrides))  # type: ignore[arg-type]


def test_rendered_config_has_the_split_the_rules_and_nothing_that_hides_failures() -> None:
    text = render_haproxy_config(site())
    lines = [line.strip() for line in text.splitlines()]
    assert "stats socket ipv4@127.0.0.1:9999 level admin" in lines
    assert "option http-ignore-probes" in lines and "no option redispatch" in lines and "retries 0" in lines
    assert "retry-on" not in text and "option redispatch" not in [line for line in lines if not line.startswith("no ")]
    assert "balance roundrobin" in lines
    assert "use-server canary if { req.fhdr(X-User-Type,-1) -m str premium }" in lines
    assert lines.index("use-server canary if { req.fhdr(X-User-Type,-1) -m str premium }") < lines.index(
        "server stable 127.0.0.1:8001 weight 80")
    assert "server canary 127.0.0.1:8002 weight 20" in lines
    assert "http-request deny deny_status 404 if { path_beg /admin } || { path_beg /metrics }" in lines
    assert "http-request use-service prometheus-exporter if { path /metrics }" in lines and "bind 127.0.0.1:8405" in lines


def test_haproxy_accepts_the_rendered_config(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    binary = need_binary(request, "haproxy")
    routes = (HeaderRoute("user_type == 'premium'", "canary"),
              HeaderRoute("not (tier == 'gold' or region not in ['eu', 'us'])", "canary"))
    for s in (site(routes=routes), site(runtime_api="/tmp/aiinfra-haproxy.sock", exporter_bind=None,
                                         health_check_path="/ready")):
        path = tmp_path / "haproxy.cfg"
        path.write_text(render_haproxy_config(s))
        check = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("condition", "acl"),
    [
        pytest.param("user_type == 'premium'", "{ req.fhdr(X-User-Type,-1) -m str premium }", id="eq"),
        pytest.param("'premium' == user_type", "{ req.fhdr(X-User-Type,-1) -m str premium }", id="eq-reversed"),
        pytest.param("user_type != 'free'", "!{ req.fhdr(X-User-Type,-1) -m str free }", id="ne"),
        pytest.param("country in ['de', 'fr']", "{ req.fhdr(X-Country,-1) -m str de fr }", id="in"),
        pytest.param("country not in ['de']", "!{ req.fhdr(X-Country,-1) -m str de }", id="not-in"),
        pytest.param("a == 'x' and b == 'y'", "{ req.fhdr(X-A,-1) -m str x } { req.fhdr(X-B,-1) -m str y }", id="and"),
        pytest.param("a == 'x' or b == 'y'", "{ req.fhdr(X-A,-1) -m str x } || { req.fhdr(X-B,-1) -m str y }", id="or"),
        pytest.param("not (a == 'x' or b == 'y')", "!{ req.fhdr(X-A,-1) -m str x } !{ req.fhdr(X-B,-1) -m str y }",
                     id="de-morgan-or"),
        pytest.param("not (a == 'x' and b == 'y')", "!{ req.fhdr(X-A,-1) -m str x } || !{ req.fhdr(X-B,-1) -m str y }",
                     id="de-morgan-and"),
        pytest.param("(a == 'x' or b == 'y') and c == 'z'",
                     "{ req.fhdr(X-A,-1) -m str x } { req.fhdr(X-C,-1) -m str z } || "
                     "{ req.fhdr(X-B,-1) -m str y } { req.fhdr(X-C,-1) -m str z }", id="distribute"),
        pytest.param("not not app_version == 'v1.2-rc_3'", "{ req.fhdr(X-App-Version,-1) -m str v1.2-rc_3 }",
                     id="double-negation-safe-chars"),
    ],
)
def test_conditions_become_haproxy_acls(condition: str, acl: str) -> None:
    assert acl_condition(condition) == acl


@pytest.mark.parametrize(
    ("condition", "match"),
    [
        pytest.param("age >= 18", "ordering comparison '>=' cannot be expressed", id="ordering"),
        pytest.param("tier == 3", "3 is not a string; .* write it as '3'", id="number"),
        pytest.param("beta == true", "True is not a string", id="bool"),
        pytest.param("a == b", "only with string literals, not name b", id="name-vs-name"),
        pytest.param("'a' == 'b'", "needs a header name on one side", id="literal-vs-literal"),
        pytest.param("beta", "name beta is not a comparison", id="bare-name"),
        pytest.param("'x' in country", "only 'name in \\[...\\]'", id="substring"),
        pytest.param("geo.country == 'de'", "routing variable 'geo.country' cannot name an HTTP header", id="dotted"),
        pytest.param("default", "'default' is the weighted split", id="default"),
        pytest.param("a == ", "ends too early", id="syntax"),
        pytest.param(" or ".join(f"(a{i} == 'x' and b{i} == 'y')" for i in range(6)).join(["not (", ")"]),
                     "expands to more than 32 alternatives", id="too-many-alternatives"),
    ],
)
def test_conditions_haproxy_cannot_express_are_refused(condition: str, match: str) -> None:
    with pytest.raises(RouterExpressionError, match=match):
        acl_condition(condition)


INJECTIONS = [
    pytest.param("user_type == 'premium\nserver evil 10.0.0.1:80'", "characters outside", id="newline-in-literal"),
    pytest.param("user_type == 'premium }'", "characters outside", id="brace-in-literal"),
    pytest.param("user_type == 'a b'", "characters outside", id="space-in-literal"),
    pytest.param("user_type == \"pre'mium\"", "characters outside", id="quote-in-literal"),
    pytest.param("user_type == 'premium#'", "characters outside", id="hash-in-literal"),
    pytest.param("user_type == ''", "characters outside", id="empty-literal"),
    pytest.param("user_type in ['a', 'b c']", "characters outside", id="space-in-list"),
    pytest.param("user#type == 'a'", "unexpected", id="hash-in-name"),
    pytest.param("user\ntype == 'a'", "unexpected 'type'", id="newline-in-name"),
    pytest.param("user_type == 'a' }\n    server evil 1.2.3.4:80 #", "characters outside|unexpected", id="config-line"),
]


@pytest.mark.parametrize(("condition", "match"), INJECTIONS)
def test_injection_through_literals_never_reaches_the_config(condition: str, match: str) -> None:
    with pytest.raises(RouterExpressionError, match=match):
        render_haproxy_config(site(routes=(HeaderRoute(condition, "canary"),)))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        pytest.param({"backend": "be\n  server evil 1.2.3.4:80"}, "backend name", id="backend-newline"),
        pytest.param({"backend": "be#x"}, "backend name", id="backend-hash"),
        pytest.param({"servers": (HaproxyServer("can ary", "127.0.0.1:1", 1),)}, "server name", id="server-space"),
        pytest.param({"servers": (HaproxyServer("canary", "127.0.0.1:1 backup", 1),)}, "is not host:port", id="address-extra"),
        pytest.param({"servers": (HaproxyServer("canary", "127.0.0.1:99999", 1),)}, "is not host:port", id="port-range"),
        pytest.param({"servers": (HaproxyServer("canary", "127.0.0.1:1", 257),)}, "outside 0..256", id="weight"),
        pytest.param({"servers": (HaproxyServer("a", "h:1", 1), HaproxyServer("a", "h:2", 1))}, "unique", id="duplicate"),
        pytest.param({"servers": ()}, "at least one server", id="no-servers"),
        pytest.param({"runtime_api": "127.0.0.1:9999 level admin\nglobal"}, "runtime API address", id="runtime-api"),
        pytest.param({"runtime_api": "/run/x sock"}, "socket path", id="socket-path"),
        pytest.param({"bind": "0.0.0.0:80 ssl crt /x"}, "frontend bind", id="bind"),
        pytest.param({"routes": (HeaderRoute("a == 'x'", "nowhere"),)}, "targets server 'nowhere'", id="route-target"),
        pytest.param({"health_check_path": "/ready HTTP/1.1\\r\\nHost: x"}, "health check path", id="check-path"),
        pytest.param({"timeouts": {"client": "30s\n    option redispatch"}}, "timeout client", id="timeout"),
    ],
)
def test_every_other_value_is_checked_before_it_is_written(overrides: dict, match: str) -> None:
    with pytest.raises(RouterExpressionError, match=match):
        render_haproxy_config(site(**overrides))


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_characters="'\\"), max_size=12))
def test_any_literal_is_either_refused_or_written_verbatim_on_one_line(literal: str) -> None:
    try:
        text = render_haproxy_config(site(routes=(HeaderRoute(f"user_type == '{literal}'", "canary"),)))
    except RouterExpressionError:
        return
    assert literal and all(c.isascii() and (c.isalnum() or c in "_.-") for c in literal)
    rule = [line for line in text.splitlines() if "use-server" in line]
    assert rule == [f"    use-server canary if {{ req.fhdr(X-User-Type,-1) -m str {literal} }}"]


def test_header_names_from_variables() -> None:
    assert header_for("user_type") == "X-User-Type"
    assert header_for("tier") == "X-Tier"
    with pytest.raises(RouterExpressionError, match="cannot name an HTTP header"):
        header_for("x-y")


# --- real HAProxy decides like the spec's evaluator ------------------------------------------------------
CONDITIONS = [
    "user_type == 'premium'",
    "country in ['de', 'fr'] and not (beta != 'yes')",
    "not (tier == 'gold' or region not in ['eu', 'us'])",
]


@pytest.fixture(scope="module")
def rule_routers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Haproxy]]:
    binary = need_binary(request, "haproxy")
    stable, canary = NamedBackend("stable"), NamedBackend("canary")
    routers = []
    try:
        for i, condition in enumerate(CONDITIONS):
            routers.append(Haproxy(tmp_path_factory.mktemp(f"rules{i}"), HaproxySite(
                bind=f"127.0.0.1:{free_port()}", runtime_api=f"127.0.0.1:{free_port()}",
                servers=(HaproxyServer("stable", stable.address, 100), HaproxyServer("canary", canary.address, 0)),
                routes=(HeaderRoute(condition, "canary"),),
            ), binary).start())
        yield routers
    finally:
        for router in routers:
            router.stop()
        stable.stop(), canary.stop()


@pytest.mark.integration
@pytest.mark.parametrize("index", range(len(CONDITIONS)), ids=CONDITIONS)
def test_haproxy_routes_header_combinations_as_the_spec_evaluates_them(rule_routers: list[Haproxy], index: int) -> None:
    condition = CONDITIONS[index]
    node = parse_condition(condition)
    names = sorted(variables(node))
    choices = [None, "premium", "de", "fr", "yes", "gold", "eu", "us", "other"]
    checked = 0
    for combo in itertools.product(choices, repeat=len(names)):
        attrs = {n: v for n, v in zip(names, combo, strict=True) if v is not None}
        headers = {header_for(n): v for n, v in attrs.items()}
        req = urllib.request.Request(rule_routers[index].url + "/invocations", data=b"{}", headers=headers)
        with urllib.request.urlopen(req, timeout=5) as r:
            served = r.headers["X-Model-Version"]
        assert served == ("canary" if evaluate(node, attrs) else "stable"), (condition, attrs)
        checked += 1
    assert checked == len(choices) ** len(names)
