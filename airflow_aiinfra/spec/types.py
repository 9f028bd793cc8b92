"""Reusable annotated types for the spec: names, durations, quantities, GPU counts.

Each type accepts what people write in YAML (``gpu: "1"``, ``cpu: 2``, ``ttl: 7d``)
and normalises it, with error messages that say what to write instead.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from airflow_aiinfra.spec import k8s_names, quantities

MAX_DURATION = timedelta(days=365)  # longer waits, timeouts and TTLs are typos; Airflow stores them as floats
MAX_GPUS = 64  # per pod (per node for distributed stages): more than any node has


def shown(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for a message, at most ``limit`` characters (a spec value may be megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, validate_default=True)


def exactly_one(model: BaseModel, choices: dict[str, str]) -> None:
    """The one rule for "exactly one of these fields": ``choices`` maps field → what it means (may be "")."""
    given = [k for k in choices if getattr(model, k) is not None]
    if len(given) == 1:
        return
    names = [f"{k!r} ({d})" if d else repr(k) for k, d in choices.items()]
    listed = ", ".join(names[:-1]) + " or " + names[-1]
    got = f" (got {', '.join(given)})" if given else ""
    raise ValueError(f"give exactly one of {listed}{got}")


class _Raw:
    """Text already bounded by its maker: shown as is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __format__(self, spec: str) -> str:
        return self.text


class _Shown:
    """A value as it appears in a message: ``{value!r}`` and ``{value}`` both give its bounded repr."""

    def __init__(self, value: Any) -> None:
        self.text = shown(value)

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


_SPEC_VALUES = {"value", "item", "key"}  # context keys that carry what the spec wrote: shown bounded


def _err(kind: str, msg: str, **ctx: Any) -> PydanticCustomError:
    """A validation error whose message is final (formatted here, so values may hold braces); the spec's own
    values are shown bounded, whatever their size."""
    text = msg.format(**{k: _Shown(v) if k in _SPEC_VALUES else v for k, v in ctx.items()})
    return PydanticCustomError("spec_" + kind, text.replace("{", "{{").replace("}", "}}"))


# --- names -------------------------------------------------------------------------------------------
_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?")


def _slug(value: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()).strip("_-")
    return s[:63].rstrip("_-") or "stage"


def _check_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise _err(
            "bad_name",
            "{value!r} cannot become an Airflow task id and a Kubernetes pod name: use 1-63 lowercase "
            "letters, digits, '_' or '-', starting and ending with a letter or digit; did you mean {fix!r}?",
            value=value,
            fix=_slug(value),
        )
    return value


Name = Annotated[str, AfterValidator(_check_name), Field(json_schema_extra={"pattern": f"^{_NAME_RE.pattern}$"})]


# Names Kubernetes checks with its own rules (k8s_names.py).


def _rule(kind: str, rule: Any, *args: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = rule(value, *args)
        if problem:
            raise _err(kind, "{problem}", problem=_Raw(problem))
        return value

    return AfterValidator(check)


LabelKey = Annotated[str, _rule("k8s_label", k8s_names.qualified_key, "label key")]
LabelValue = Annotated[str, _rule("k8s_label", k8s_names.label_value)]
AnnotationKey = Annotated[str, _rule("k8s_annotation", k8s_names.qualified_key, "annotation key")]
LabelMap = dict[LabelKey, LabelValue]
# Names Kubernetes checks with its own rules (k8s_names.py).
K8sLabelName = Annotated[str, _rule("k8s_name", k8s_names.dns_label, "name")]
Namespace = Annotated[str, _rule("k8s_name", k8s_names.dns_label, "namespace")]
K8sObjectName = Annotated[str, _rule("k8s_name", k8s_names.dns_subdomain, "name")]
SecretKey = Annotated[str, _rule("k8s_name", k8s_names.secret_key)]
AnnotationMap = dict[AnnotationKey, Annotated[str, Field(max_length=65536)]]
EnvName = Annotated[str, _rule("env_name", k8s_names.env_name)]
# Airflow's own rule for connection ids (letters, digits and _#!()-.:/\\, at most 250).
ConnId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_#!()\-.:/\\]+$", min_length=1, max_length=250)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
MountPath = Annotated[str, Field(pattern=r"^/[^\x00]*$", max_length=1024,
                                 description="An absolute path in the container.")]


# --- durations ---------------------------------------------------------------------------------------
_DUR_RE = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_DUR_PATTERN = r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return _bounded(value, value)
    if isinstance(value, bool):
        raise _err("duration", "expected a duration such as '30m', '1h' or '7d', got {value!r}", value=value)
    if isinstance(value, int | float):
        if value < 0:
            raise _err("duration", "a duration cannot be negative, got {value!r}", value=value)
        if value > MAX_DURATION.total_seconds():
            raise _too_long(value)
        return timedelta(seconds=value)
    if isinstance(value, str) and len(value) <= 32:
        m = _DUR_RE.match(value)
        if m and any(m.groups()):
            d, h, mi, s = (int(g or 0) for g in m.groups())
            if d > MAX_DURATION.days:
                raise _too_long(value)
            return _bounded(timedelta(days=d, hours=h, minutes=mi, seconds=s), value)
    raise _err(
        "duration",
        "{value!r} is not a duration; write it as a number of seconds or like '90s', '30m', '1h', '7d', '1h30m'",
        value=value,
    )


def _too_long(value: Any) -> PydanticCustomError:
    return _err("duration", "{value!r} is longer than {days} days; durations that long are typos",
                value=value, days=MAX_DURATION.days)


def _bounded(td: timedelta, written: Any) -> timedelta:
    if td > MAX_DURATION:
        raise _too_long(written)
    return td


def format_duration(td: timedelta) -> str:
    total = int(td.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration, json_schema_input_type=str | int),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"pattern": _DUR_PATTERN}),
]


# --- quantities --------------------------------------------------------------------------------------
def _quantity(kind: str):
    suggest = quantities.suggest_cpu if kind == "cpu" else quantities.suggest_memory

    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _err("quantity", "expected a Kubernetes quantity string such as '2' or '8Gi', got {value!r}",
                       value=value)
        text = str(value)
        if isinstance(value, float) and kind == "cpu":
            text = f"{value:g}"
        if quantities.is_quantity(text):
            return text
        fix = suggest(text)
        hint = f"; did you mean {fix!r}?" if fix else ("; e.g. '2', '500m'" if kind == "cpu" else "; e.g. '8Gi', '512Mi'")
        raise _err("quantity", "{value!r} is not a Kubernetes quantity" + hint, value=value)

    return check


CpuQuantity = Annotated[str, BeforeValidator(_quantity("cpu"), json_schema_input_type=str | int | float)]
MemQuantity = Annotated[str, BeforeValidator(_quantity("memory"), json_schema_input_type=str | int)]


def _gpu_count(value: Any) -> int:
    count = _gpu_number(value)
    if count > MAX_GPUS:
        raise _err("gpu_count", "{count} GPUs is more than any node has (at most {max}); for more, run the stage "
                   "on several nodes (distributed:)", count=count, max=MAX_GPUS)
    return count


def _gpu_number(value: Any) -> int:
    if isinstance(value, bool):
        raise _err("gpu_count", "GPU count must be a whole number, got {value!r}", value=value)
    if isinstance(value, str) and len(value) <= 8 and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, int | float) and value < 0 or (isinstance(value, str) and value.strip().startswith("-")):
        raise _err("gpu_count", "GPU count cannot be negative, got {value!r}", value=value)
    if isinstance(value, float) or (isinstance(value, str) and re.fullmatch(r"\s*\d*\.\d+\s*", value)):
        raise _err(
            "gpu_count",
            "GPU count must be a whole number, got {value!r}: Kubernetes cannot share a GPU between pods "
            "(use a MIG/time-slicing resource instead)",
            value=value,
        )
    raise _err("gpu_count", "GPU count must be a whole number such as 1 or \"2\", got {value!r}", value=value)


GpuCount = Annotated[
    int,
    BeforeValidator(_gpu_count, json_schema_input_type=int | str),
    Field(json_schema_extra={"minimum": 0, "pattern": r"^\d+$"}),
]


# --- templated strings -------------------------------------------------------------------------------
# Strings that Airflow renders with Jinja. Every string of a spec is checked against the
# allow-list when the file is loaded (spec.load), so this is documentation only.
TemplatedStr = Annotated[str, Field(description="May use {{ ds }}, {{ data_interval_start }}, {{ params.x }}...")]


def _scalar_str(value: Any) -> Any:
    """Env values may be written as numbers or (explicitly tagged) booleans; pods only take strings. What the
    YAML reading of an unquoted value would change (``COUNTRY: NO`` is false, ``V: 1.10`` is 1.1) is refused
    where the source is read (spec/checks/source.py), so numbers here keep the text that was written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(_scalar_str, json_schema_input_type=str | int | float | bool)]
EnvMap = dict[EnvName, EnvValue]


def merge_single_key_maps(value: Any) -> Any:
    """Accept ``[{a: 1}, {b: 2}]`` (the seed's list-of-single-key-maps form) as ``{a: 1, b: 2}``."""
    if not isinstance(value, list):
        return value
    merged: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, dict):
            raise _err("list_of_maps", "expected entries of the form '- key: value', got {item!r}", item=item)
        for key, val in item.items():
            if key in merged:
                raise _err("list_of_maps", "{key!r} is given twice", key=key)
            merged[key] = val
    return merged


def _version(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _err(
            "version_string",
            "version {value!r} was read by YAML as a number (1.10 becomes 1.1); quote it",
            value=value,
        )
    return value


VersionStr = Annotated[str, BeforeValidator(_version, json_schema_input_type=str), Field(min_length=1)]
Fraction = Annotated[float, Field(ge=0, le=1)]
