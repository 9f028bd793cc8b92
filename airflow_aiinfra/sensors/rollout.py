"""``rollout.analyze_<w>``: a deferrable sensor that judges one step of the canary.

It defers at once (``triggers/rollout.py`` waits ``step_interval`` plus one scrape in the triggerer), then,
back on a worker, reads both versions' window from Prometheus (``rollout/analysis.py``) and judges it
(``rollout/judge.py``): thresholds, optionally the comparison with stable, and custom PromQL checks.

* pass → the verdict is pushed (XCom ``rollout_verdict``) and logged on the MLflow run as step-indexed
  metrics (``rollout.canary.*``, ``rollout.stable.*``, ``rollout.p_value.*``); the rollout goes on;
* fail → another window while fewer than ``max_failed_checks`` consecutive windows failed, else the task
  fails without retries (AirflowFailException) with the failing metric, value and threshold in the log, and
  ``rollout.rollback`` runs;
* not enough data (fewer than ``min_requests`` canary requests, or a metric with no value) → a retryable
  error: retried, then failed, never a pass;
* Prometheus or the router unreachable → a transient error (retried), never a pass.

Marking the task failed by hand triggers the rollback too; the ``rollout_promote_now`` param makes it pass
without judging.
"""

from __future__ import annotations

import time
import urllib.parse
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from airflow_aiinfra.contract import XCOM_PROMETHEUS_GRAPH, XCOM_VERDICT
from airflow_aiinfra.operators.failures import permanent_fails
from airflow_aiinfra.operators.pipeline_run import log_to_pipeline_run
from airflow_aiinfra.operators.rollout import PrometheusGraphLink, RolloutOperator


class NotEnoughData(Exception):
    """Too few canary requests (or no value for a metric) in the window: retried, never a pass."""


class RolloutAnalysisSensor(RolloutOperator, BaseSensorOperator):
    ui_color = "#fcf3cf"
    operator_extra_links = (*RolloutOperator.operator_extra_links, PrometheusGraphLink())

    def __init__(
        self,
        *,
        weight: int,
        step: int,
        window_seconds: float,
        scrape_interval_seconds: float = 15.0,
        prometheus_conn_id: str = "prometheus_default",
        thresholds: dict[str, float] | None = None,
        comparison_confidence: float | None = None,
        comparison_metrics: list[str] | None = None,
        checks: list[dict[str, Any]] | None = None,
        min_requests: int = 100,
        max_failed_checks: int = 1,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(seconds=max(3600.0, 4 * window_seconds * max_failed_checks)))
        super().__init__(**kwargs)
        self.weight = weight
        self.step = step
        self.window_seconds = window_seconds
        self.scrape_interval_seconds = scrape_interval_seconds
        self.prometheus_conn_id = prometheus_conn_id
        self.thresholds = dict(thresholds or {})
        self.comparison_confidence = comparison_confidence
        self.comparison_metrics = list(comparison_metrics or [])
        self.checks = list(checks or [])
        self.min_requests = min_requests
        self.max_failed_checks = max_failed_checks

    def poke(self, context: Any) -> bool:  # never polled: execute() defers
        return False

    # --- waiting --------------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        state = self.rollout(context)
        if state["initial"]:
            raise AirflowSkipException("initial deploy: no analysis")
        if self.promote_now(context):
            self.log.info("rollout_promote_now is set: not judged")
            return None
        self._defer(context, state, failures=0)
        return None

    def _defer(self, context: Any, state: dict[str, Any], failures: int) -> None:
        from airflow_aiinfra.triggers.rollout import RolloutWindowTrigger

        window_end = time.time() + self.window_seconds
        url = self.graph_url(state, window_end)  # the link works while the window is being waited out
        if url:
            context["ti"].xcom_push(key=XCOM_PROMETHEUS_GRAPH, value=url)
        # one scrape and a half after the window, so Prometheus holds its last samples
        until = window_end + 1.5 * self.scrape_interval_seconds
        self.log.info("canary at %d %% (step %d): judging the next %.0f s", self.weight, self.step,
                      self.window_seconds)
        self.defer(trigger=RolloutWindowTrigger(until=until, window_end=window_end, failures=failures,
                                                step=self.step, weight=self.weight),
                   method_name="execute_complete",
                   timeout=timedelta(seconds=self.window_seconds + 10 * self.scrape_interval_seconds + 600))

    # --- judging --------------------------------------------------------------------------------------
    def prometheus(self) -> Any:
        from airflow_aiinfra.hooks.prometheus import PrometheusHook

        return PrometheusHook(self.prometheus_conn_id)

    def judge_window(self, state: dict[str, Any], end: float) -> Any:
        from airflow_aiinfra.rollout.analysis import collect_window
        from airflow_aiinfra.rollout.judge import (
            Comparison,
            Threshold,
            default_comparisons,
            judge,
            spec_thresholds,
        )

        prom = self.prometheus()
        # at least 4 intervals per version (the least for 95 % in the comparison), each a rate over 2 scrapes
        interval = max(self.scrape_interval_seconds, self.window_seconds / 8)
        custom = {c["name"]: c["query"] for c in self.checks}
        compare = self.comparison_confidence is not None
        common = {"end": end, "window_seconds": self.window_seconds, "interval_seconds": interval,
                  "scrape_interval_seconds": self.scrape_interval_seconds, "custom": custom,
                  "series_metrics": self.comparison_metrics if compare else ()}
        canary = collect_window(prom, version=state["new_label"], slot=None, **common)
        stable = collect_window(prom, version=state["champion_label"], slot=None, **common)
        thresholds = list(spec_thresholds(self.thresholds))
        for c in self.checks:
            if c.get("max") is not None:
                thresholds.append(Threshold(c["name"], float(c["max"]), "max"))
            if c.get("min") is not None:
                thresholds.append(Threshold(c["name"], float(c["min"]), "min"))
        comparisons: tuple[Comparison, ...] = ()
        if compare:
            assert self.comparison_confidence is not None
            comparisons = tuple(c for c in default_comparisons(self.comparison_confidence)
                                if c.metric in self.comparison_metrics)
        return judge(canary=canary, stable=stable, thresholds=thresholds, comparisons=comparisons,
                     min_requests=self.min_requests)

    def graph_url(self, state: dict[str, Any], end: float) -> str:
        from airflow_aiinfra.rollout.promql import builtin_query

        window = f"{max(1, int(self.window_seconds))}s"
        params: dict[str, str] = {}
        for i, label in enumerate((state["new_label"], state["champion_label"])):
            params[f"g{i}.expr"] = builtin_query("latency_p99", version=label, window=window)
            params[f"g{i}.tab"] = "0"
            params[f"g{i}.range_input"] = f"{max(60, int(self.window_seconds * 4))}s"
            params[f"g{i}.end_input"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end + 60))
        try:
            base = self.prometheus().base_url
        except Exception:
            return ""
        return f"{base}/graph?" + urllib.parse.urlencode(params)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_aiinfra.errors import AiinfraError
        from airflow_aiinfra.rollout.judge import Outcome

        event = event or {}
        if event.get("status") != "elapsed":
            raise AirflowFailException(f"the analysis window ended without an event: {event}")
        state = self.rollout(context)
        end = float(event["window_end"])
        failures = int(event.get("failures", 0))
        with permanent_fails():
            split = self.traffic.read()  # the router must answer too: unreachable is retried, never a pass
            verdict = self.judge_window(state, end)
        ti = context["ti"]
        record = {"step": self.step, "weight": self.weight, "split_canary_weight": split.canary.weight,
                  "verdict": verdict.to_dict()}
        ti.xcom_push(key=XCOM_VERDICT, value=record)
        url = self.graph_url(state, end)
        if url:
            ti.xcom_push(key=XCOM_PROMETHEUS_GRAPH, value=url)
        for check in verdict.checks:
            self.log.info("[%s] %s", check.outcome.value, check.message)
        metrics = {f"rollout.{k}": v for k, v in verdict.as_metrics().items()}
        metrics["rollout.canary_weight"] = float(self.weight)
        try:
            log_to_pipeline_run(context, metrics=metrics, step=self.step)
        except AiinfraError as exc:
            self.log.warning("could not log the analysis on the MLflow run: %s", exc)
        if verdict.outcome is Outcome.PASS:
            self.log.info("step %d (%d %%): %s", self.step, self.weight, verdict.message)
            return record
        if verdict.outcome is Outcome.FAIL:
            failures += 1
            if failures < self.max_failed_checks:
                self.log.warning("step %d (%d %%): %s (%d of %d consecutive failed analyses allowed); judging "
                                 "another window", self.step, self.weight, verdict.message, failures,
                                 self.max_failed_checks)
                self._defer(context, state, failures=failures)
            raise AirflowFailException(f"step {self.step} ({self.weight} %): {verdict.message}")
        raise NotEnoughData(f"step {self.step} ({self.weight} %): {verdict.message} (retried; never a pass)")
