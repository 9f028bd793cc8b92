"""PromQL for judging a canary: built-in queries over the model servers' metrics, and checked user templates.

Built-ins (:func:`builtin_query`) read the metrics of :mod:`airflow_aiinfra.serving.names`, selected by
``model_version`` (and ``slot`` when given), over a range ``window`` such as ``30s``:

==============  =============================================================  ========
metric          query                                                          unit
==============  =============================================================  ========
requests        ``sum(increase(requests_total{sel}[w]))``                        requests
throughput      ``sum(rate(requests_total{sel}[w]))``                            req/s
error_rate      non-2xx rate / all rate (``or vector(0)`` so no errors is 0)     fraction
latency_pNN     ``histogram_quantile(0.NN, sum by (le) (rate(..._bucket[w])))``  ms
==============  =============================================================  ========

An error is any non-2xx answer: MLflow's scoring app answers 400 when the model itself raises, so 4xx
cannot be left out without hiding a broken model.

User templates (custom checks) are PromQL with exactly one kind of placeholder, ``{version}``, written
inside a quoted label value (``my_metric{model_version="{version}"}``); the product fills it with the
version label being judged. Anything that looks like another substitution (``{slot}``, ``{0}``,
``{version!r}``, braces inside strings, ``{{``) is refused by :func:`validate_template`, so a template
means the same PromQL for every version and nothing but the version label is ever spliced in.
"""

from __future__ import annotations

import re

from airflow_aiinfra.serving import names

PLACEHOLDER = "{version}"
BUILTIN_METRICS = ("requests", "throughput", "error_rate", "latency_p50", "latency_p95", "latency_p99")
_VERSION = re.compile(r"[A-Za-z0-9_.:/@+-]{1,128}")
_SLOT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_WINDOW = re.compile(r"[1-9][0-9]*(ms|s|m|h)")
_MATCHER_START = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)")


class PromqlTemplateError(ValueError):
    """A PromQL template uses a placeholder or brace that the product does not fill."""


def validate_template(template: str) -> None:
    """Check a user template: ``{version}`` at least once, only inside quoted strings, and no other
    brace substitution; PromQL's own label-matcher braces (``{a="b"}``) are fine."""
    text, i, quote, brace, count = template, 0, "", -1, 0
    while i < len(text):
        c = text[i]
        if text.startswith(PLACEHOLDER, i):
            if not quote:
                raise PromqlTemplateError(
                    f"{PLACEHOLDER} at position {i + 1} of {template!r} must be inside a quoted label value, "
                    f'e.g. my_metric{{model_version="{PLACEHOLDER}"}}'
                )
            count += 1
            i += len(PLACEHOLDER)
            continue
        if quote:
            if c == "\\" and quote != "`":
                i += 2
                continue
            if c in "{}":
                raise PromqlTemplateError(
                    f"brace at position {i + 1} of {template!r} inside a string: only {PLACEHOLDER} is substituted "
                    f"(regex repetitions such as {{2}} are not allowed; spell them out)"
                )
            if c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c == "{":
            if brace >= 0:
                raise PromqlTemplateError(f"nested '{{' at position {i + 1} of {template!r}")
            if not _MATCHER_START.match(text, i + 1):
                end = text.find("}", i)
                field = text[i:end + 1] if end >= 0 else text[i:]
                raise PromqlTemplateError(
                    f"{field!r} in {template!r} is not a PromQL label matcher; the only placeholder is {PLACEHOLDER}"
                )
            brace = i
        elif c == "}":
            if brace < 0:
                raise PromqlTemplateError(f"unbalanced '}}' at position {i + 1} of {template!r}")
            brace = -1
        i += 1
    if quote:
        raise PromqlTemplateError(f"unterminated string in {template!r}")
    if brace >= 0:
        raise PromqlTemplateError(f"unbalanced '{{' at position {brace + 1} of {template!r}")
    if count == 0:
        raise PromqlTemplateError(
            f"{template!r} does not use {PLACEHOLDER}: a check must select the version it judges, "
            f'e.g. my_metric{{model_version="{PLACEHOLDER}"}}'
        )


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise PromqlTemplateError(
            f"version label {version!r} must be 1-128 characters of [A-Za-z0-9_.:/@+-] (e.g. recsys/3)"
        )
    return version


def render_template(template: str, *, version: str) -> str:
    """A user template with ``{version}`` filled in (validated first)."""
    validate_template(template)
    return template.replace(PLACEHOLDER, check_version(version))


def selector(*, version: str, slot: str | None = None) -> str:
    """Label matchers of one version (and slot): ``{model_version="recsys/3",slot="canary"}``."""
    parts = [f'{names.VERSION_LABEL}="{check_version(version)}"']
    if slot is not None:
        if not _SLOT.fullmatch(slot):
            raise PromqlTemplateError(f"slot {slot!r} must be 1-64 characters of [A-Za-z0-9_.-]")
        parts.append(f'{names.SLOT_LABEL}="{slot}"')
    return "{" + ",".join(parts) + "}"


def _with(selector_text: str, extra: str) -> str:
    return selector_text[:-1] + "," + extra + "}"


def builtin_query(metric: str, *, version: str, window: str, slot: str | None = None) -> str:
    """The PromQL of a built-in metric for one version over ``window`` (a PromQL duration such as ``30s``)."""
    if not _WINDOW.fullmatch(window):
        raise PromqlTemplateError(f"window {window!r} must be a PromQL duration such as 30s, 5m or 1h")
    sel = selector(version=version, slot=slot)
    requests, buckets = names.REQUESTS, f"{names.DURATION}_bucket"
    if metric == "requests":
        return f"sum(increase({requests}{sel}[{window}]))"
    if metric == "throughput":
        return f"sum(rate({requests}{sel}[{window}]))"
    if metric == "error_rate":
        errors = _with(sel, f'{names.STATUS_LABEL}!~"2.."')
        return f"(sum(rate({requests}{errors}[{window}])) or vector(0)) / sum(rate({requests}{sel}[{window}]))"
    quantile = {"latency_p50": "0.5", "latency_p95": "0.95", "latency_p99": "0.99"}.get(metric)
    if quantile is not None:
        return f"histogram_quantile({quantile}, sum by (le) (rate({buckets}{sel}[{window}]))) * 1000"
    raise PromqlTemplateError(f"unknown built-in metric {metric!r}; use one of {', '.join(BUILTIN_METRICS)}")
