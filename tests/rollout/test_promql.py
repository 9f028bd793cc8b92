"""PromQL: built-in queries per version label, and user templates where only {version} is ever filled in."""

from __future__ import annotations

import pytest

from airflow_aiinfra.rollout.promql import (
    BUILTIN_METRICS,
    PromqlTemplateError,
    builtin_query,
    render_template,
    selector,
    validate_template,
)


def test_builtin_queries_select_the_version_and_slot() -> None:
    assert selector(version="recsys/3", slot="canary") == '{model_version="recsys/3",slot="canary"}'
    assert builtin_query("error_rate", version="recsys/3", slot="canary", window="30s") == (
        '(sum(rate(aiinfra_model_requests_total{model_version="recsys/3",slot="canary",status!~"2.."}[30s])) '
        'or vector(0)) / sum(rate(aiinfra_model_requests_total{model_version="recsys/3",slot="canary"}[30s]))'
    )
    assert builtin_query("latency_p99", version="recsys/3", window="1m") == (
        'histogram_quantile(0.99, sum by (le) (rate(aiinfra_model_request_duration_seconds_bucket'
        '{model_version="recsys/3"}[1m]))) * 1000'
    )
    assert builtin_query("requests", version="v", window="5m").startswith("sum(increase(")
    assert builtin_query("throughput", version="v", window="5m").startswith("sum(rate(")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"metric": "latency_p90"}, "unknown built-in metric 'latency_p90'", id="unknown-metric"),
        pytest.param({"window": "30"}, "window '30' must be a PromQL duration", id="window-unit"),
        pytest.param({"window": "1m]) or vector(1"}, "window", id="window-injection"),
        pytest.param({"version": 'v"} or up{x="'}, "version label .* must be", id="version-injection"),
        pytest.param({"slot": "canary\"}"}, "slot .* must be", id="slot-injection"),
    ],
)
def test_builtin_query_arguments_are_checked(kwargs: dict, match: str) -> None:
    args = {"metric": "error_rate", "version": "recsys/3", "window": "30s", "slot": "canary"} | kwargs
    with pytest.raises(PromqlTemplateError, match=match):
        builtin_query(args.pop("metric"), **args)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        pytest.param('sum(rate(my_errors_total{model_version="{version}"}[1m]))',
                     'sum(rate(my_errors_total{model_version="recsys/3"}[1m]))', id="label-value"),
        pytest.param("avg(null_predictions{model_version=~'{version}', job=\"x\"})",
                     "avg(null_predictions{model_version=~'recsys/3', job=\"x\"})", id="regex-and-single-quotes"),
        pytest.param('a{v="{version}"} / b{v="{version}",c!="d"}', 'a{v="recsys/3"} / b{v="recsys/3",c!="d"}',
                     id="twice"),
        pytest.param('x{v="{version}", s="a\\"b"}', 'x{v="recsys/3", s="a\\"b"}', id="escaped-quote"),
    ],
)
def test_user_templates_get_the_version_filled_in(template: str, rendered: str) -> None:
    assert render_template(template, version="recsys/3") == rendered


@pytest.mark.parametrize(
    ("template", "match"),
    [
        pytest.param("sum(rate(my_errors_total[1m]))", "does not use {version}", id="no-placeholder"),
        pytest.param('x{model_version="{slot}"}', "brace at position .* inside a string", id="other-placeholder"),
        pytest.param('x{model_version="{version!r}"}', "brace at position", id="format-conversion"),
        pytest.param('x{model_version="{0}"} + y{v="{version}"}', "brace at position", id="positional"),
        pytest.param("x{version}", "must be inside a quoted label value", id="unquoted"),
        pytest.param('x{v="{version}"} + {slot}', "'{slot}' .* is not a PromQL label matcher", id="bare-field"),
        pytest.param('x{{v="{version}"}}', "is not a PromQL label matcher", id="format-escapes"),
        pytest.param('x{v="{version}"', "unbalanced", id="unbalanced"),
        pytest.param('x{v="{version}', "unterminated string", id="unterminated"),
        pytest.param('x{v=~"a{2}", w="{version}"}', "regex repetitions", id="regex-braces"),
    ],
)
def test_user_templates_allow_no_other_substitution(template: str, match: str) -> None:
    with pytest.raises(PromqlTemplateError, match=match):
        validate_template(template)


def test_every_builtin_metric_has_a_query() -> None:
    for metric in BUILTIN_METRICS:
        assert 'model_version="v/1"' in builtin_query(metric, version="v/1", window="10s")
