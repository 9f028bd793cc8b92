"""``model_serving``: versions with traffic weights, routing rules, monitoring thresholds, rollout."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from airflow_aiinfra.spec.model.routers import HaproxyRouter, RouterSpec
from airflow_aiinfra.spec.routing import RoutingSyntaxError, parse_condition
from airflow_aiinfra.spec.types import ConnId, Duration, Fraction, Strict, VersionStr, merge_single_key_maps


class ServingVersion(Strict):
    version: VersionStr
    weight: int = Field(ge=0, le=100, description="Percent of traffic; all weights sum to 100.")
    canary: bool = False
    model_alias: str | None = Field(None, description="Registry alias served by this version (e.g. champion).")
    server: str | None = Field(None, description="Router server/backend name; defaults to the version.")


class RoutingRule(Strict):
    condition: str = Field(description="A tiny boolean language: ==, !=, in, and, or, not, or 'default'.")
    target_version: VersionStr

    @field_validator("condition")
    @classmethod
    def _parse(cls, value: str) -> str:
        try:
            parse_condition(value)
        except RoutingSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value


class Thresholds(Strict):
    error_rate: Fraction | None = Field(None, description="Highest acceptable error ratio (0..1).")
    latency_p99: float | None = Field(None, gt=0, le=600_000, description="Milliseconds.")
    latency_p95: float | None = Field(None, gt=0, le=600_000)
    latency_p50: float | None = Field(None, gt=0, le=600_000)
    throughput_min: float | None = Field(None, ge=0, description="Requests per second the canary must serve.")


Metric = Literal["latency", "throughput", "error_rate"]


class Monitoring(Strict):
    metrics: list[Metric] = Field(default_factory=lambda: ["latency", "throughput", "error_rate"])
    thresholds: Thresholds = Field(default_factory=Thresholds)


ComparedMetric = Literal["error_rate", "latency_p50", "latency_p95", "latency_p99"]


class Comparison(Strict):
    """Canary vs stable on the same window (Mann-Whitney U over the per-interval series, as Kayenta does)."""

    confidence: float = Field(0.95, ge=0.5, lt=1, description="Confidence needed to call the canary worse.")
    metrics: list[ComparedMetric] = Field(
        default_factory=lambda: ["error_rate", "latency_p50", "latency_p95", "latency_p99"], min_length=1
    )


class CustomCheck(Strict):
    """User PromQL with a threshold; ``{version}`` (inside a quoted label value) is the judged version's label."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    query: str = Field(min_length=1, description='PromQL, e.g. sum(rate(x{model_version="{version}"}[1m])).')
    max: float | None = Field(None, description="Highest acceptable value.")
    min: float | None = Field(None, description="Lowest acceptable value.")

    @field_validator("query")
    @classmethod
    def _template(cls, query: str) -> str:
        from airflow_aiinfra.rollout.promql import PromqlTemplateError, validate_template

        try:
            validate_template(query)
        except PromqlTemplateError as exc:
            raise ValueError(str(exc)) from None
        return query


class Rollout(Strict):
    steps: list[Annotated[int, Field(gt=0, le=100)]] | None = Field(
        None,
        description="Canary weights on the way; without steps the canary goes to its declared weight and is "
        "promoted if it passes. A last step below 100 holds the split as an A/B test (no promotion).",
    )
    step_interval: Duration = Field("5m", description="How long each step is observed before the next.")
    scrape_interval: Duration = Field("15s", description="Prometheus's scrape interval for the model servers.")
    max_failed_checks: int = Field(1, ge=1, le=10, description="Consecutive failed analyses before rollback.")
    min_requests: int = Field(100, gt=0, description="Canary requests a window needs to be judged at all.")
    comparison: Comparison | None = Field(None, description="Optional comparative judge against stable.")
    checks: list[CustomCheck] = Field(default_factory=list, description="Custom PromQL checks.")
    prometheus_conn_id: ConnId = "prometheus_default"
    router: RouterSpec = Field(default_factory=HaproxyRouter)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[int] | None) -> list[int] | None:
        if steps is not None and (not steps or steps != sorted(set(steps))):
            raise ValueError(f"rollout steps must increase strictly, got {steps}")
        return steps


class ModelServing(Strict):
    versions: list[ServingVersion] = Field(min_length=1)
    routing_rules: list[RoutingRule] = Field(default_factory=list)
    monitoring: Annotated[
        Monitoring, BeforeValidator(merge_single_key_maps, json_schema_input_type=Monitoring | list[dict[str, Any]])
    ] = Field(default_factory=Monitoring)
    rollout: Rollout = Field(default_factory=Rollout)
