"""Rollout operators: deploy the canary, shift its weight, promote, roll back (the analysis is a sensor,
``sensors/rollout.py``).

Every task reads the router's actual state before changing anything (``Router.read()`` and the router's own
idempotent methods), so a retry, a restarted worker or a killed task continues from where traffic really is;
rollback twice is safe and promote after promote is a no-op. Errors: a router or model server unreachable is
a transient error (Airflow retries); a refusal is permanent (the task fails now, see ``failures.py``).

What the rollout knows of itself travels as XCom: ``mlflow.register_model`` returns the new version;
``rollout.deploy_canary`` pushes ``rollout`` = {new_version, new_label, new_uri, champion, champion_label,
initial}; each analysis pushes its verdict (``rollout_verdict``).
"""

from __future__ import annotations

import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_aiinfra.contract import (
    MLFLOW_REGISTER_MODEL,
    PROMOTE_NOW_PARAM,
    ROLLOUT_DEPLOY,
    ROLLOUT_GROUP,
    XCOM_PROMETHEUS_GRAPH,
    XCOM_ROLLOUT,
    XCOM_VERDICT,
)
from airflow_aiinfra.errors import RouterTransientError
from airflow_aiinfra.operators.failures import permanent_fails
from airflow_aiinfra.operators.pipeline_run import MlflowRunLink, log_to_pipeline_run, pipeline_run

CHART_ARTIFACT_DIR = "rollout"
CHART_NAME = "rollout.png"


def _xcom(ti_key: Any, key: str, task_id: str | None = None) -> Any:
    try:
        from airflow.sdk.execution_time.xcom import XCom

        if task_id is None:
            return XCom.get_value(ti_key=ti_key, key=key)
        return XCom.get_one(key=key, dag_id=ti_key.dag_id, task_id=task_id, run_id=ti_key.run_id)
    except Exception:  # a link must never break the UI
        return None


class RolloutChartLink(BaseOperatorLink):
    """"Rollout chart": the chart PNG on the pipeline's MLflow run (its artifacts page)."""

    name = "Rollout chart"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow_aiinfra.contract import MLFLOW_START_RUN, XCOM_MLFLOW_RUN

        info = _xcom(ti_key, XCOM_MLFLOW_RUN, MLFLOW_START_RUN) or {}
        url = info.get("run_url", "") if isinstance(info, dict) else ""
        return f"{url}/artifacts/{CHART_ARTIFACT_DIR}/{CHART_NAME}" if url else ""


class PrometheusGraphLink(BaseOperatorLink):
    """"Prometheus graph": the analysis's queries over its window in Prometheus's graph page."""

    name = "Prometheus graph"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        url = _xcom(ti_key, XCOM_PROMETHEUS_GRAPH)
        return url if isinstance(url, str) else ""


class RolloutOperator(BaseOperator):
    """Common to the rollout tasks: the router (built on the worker), the rollout's XComs, the registry."""

    ui_color = "#fdebd0"
    template_fields = ()
    operator_extra_links = (MlflowRunLink(), RolloutChartLink())

    def __init__(self, *, registered_model: str, router_type: str, router: dict[str, Any] | None = None,
                 target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registered_model = registered_model
        self.router_type = router_type
        self.router = dict(router or {})
        self.target = target

    @cached_property
    def traffic(self) -> Any:
        from airflow_aiinfra.rollout.routers.factory import router_for

        return router_for(self.router_type, self.router)

    def rollout(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        state = context["ti"].xcom_pull(task_ids=ROLLOUT_DEPLOY, key=XCOM_ROLLOUT)
        if not state:
            raise AirflowFailException(f"{ROLLOUT_DEPLOY} pushed no rollout state; clear it to deploy again")
        return state

    @staticmethod
    def promote_now(context: Any) -> bool:
        return bool((context.get("params") or {}).get(PROMOTE_NOW_PARAM))

    def registry(self, context: Any) -> Any:
        """The MLflow hook of the pipeline's run (a rollout is planned only with an experiment)."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_aiinfra.hooks.mlflow import hook_for

        info = pipeline_run(context)
        if not info:
            raise AirflowFailException("no MLflow run: mlflow.start_run did not push one")
        return hook_for(info)

    def log_split(self, what: str, split: Any) -> None:
        self.log.info("%s: %s → canary %d %% (%s), stable %d %% (%s), header-matched requests to %s", what,
                      self.traffic.describe(), split.canary.weight, split.canary.model_version,
                      split.stable.weight, split.stable.model_version,
                      "canary" if split.header_routes_to_canary else "stable")

    def verdicts(self, context: Any) -> list[dict[str, Any]]:
        """The analyses' verdicts of this run, in step order."""
        ti = context["ti"]
        task_ids = sorted((t for t in self.dag.task_ids if t.startswith(f"{ROLLOUT_GROUP}.analyze_")),
                          key=lambda t: int(t.rsplit("_", 1)[1]))
        found = [ti.xcom_pull(task_ids=t, key=XCOM_VERDICT) for t in task_ids]
        return sorted((v for v in found if v), key=lambda v: v["step"])

    def record_chart(self, context: Any, thresholds: dict[str, float]) -> None:
        """The chart of every judged step on the pipeline's MLflow run (never fails the task)."""
        from airflow_aiinfra.errors import AiinfraError
        from airflow_aiinfra.rollout.chart import RolloutStep, render_chart
        from airflow_aiinfra.rollout.judge import Check, Outcome, Verdict

        steps = []
        for v in self.verdicts(context):
            d = v["verdict"]
            checks = tuple(Check(**{**c, "outcome": Outcome(c["outcome"])}) for c in d["checks"])
            verdict = Verdict(Outcome(d["outcome"]), d["canary_version"], d["stable_version"],
                              d["canary_requests"], d["min_requests"], checks, d["message"])
            steps.append(RolloutStep.from_verdict(v["weight"], verdict))
        if not steps:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = render_chart(steps, Path(tmp) / CHART_NAME, title=f"{self.registered_model} rollout",
                                error_rate_threshold=thresholds.get("error_rate"),
                                latency_p99_threshold_ms=thresholds.get("latency_p99"))
            try:
                log_to_pipeline_run(context, artifacts={CHART_ARTIFACT_DIR: str(path)})
                self.log.info("rollout chart logged on the MLflow run as %s/%s", CHART_ARTIFACT_DIR, CHART_NAME)
            except AiinfraError as exc:
                self.log.warning("could not log the rollout chart: %s", exc)


class RolloutDeployOperator(RolloutOperator):
    """``rollout.deploy_canary``: the canary slot serves this run's version at the first weight; with no
    champion yet, an initial deploy (stable slot at 100 %, alias champion, no analysis)."""

    def __init__(self, *, weight: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight = weight

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_aiinfra.rollout.registry import CHAMPION, alias_version, set_champion

        registered = context["ti"].xcom_pull(task_ids=MLFLOW_REGISTER_MODEL)
        if not registered or registered.get("name") != self.registered_model:
            raise AirflowFailException(f"{MLFLOW_REGISTER_MODEL} returned no version of {self.registered_model!r}")
        version = str(registered["version"])
        label, uri = f"{self.registered_model}/{version}", f"models:/{self.registered_model}/{version}"
        hook = self.registry(context)
        with hook.session() as client:
            champion = alias_version(client, self.registered_model, CHAMPION)
        with permanent_fails():
            split = self.traffic.read()
            self.log_split("before", split)
            if champion is None or champion == version:
                # no champion yet (or this very version became it on an earlier try): initial deploy
                self.log.info("initial deploy: no %s for %r; %s goes to the stable slot at 100 %% without "
                              "analysis", CHAMPION, self.registered_model, label)
                split = self.traffic.initial_deploy(uri, label)
                with hook.session() as client:
                    moves = set_champion(client, self.registered_model, version)
                self.log.info("alias %s → %s (%d alias move%s)", CHAMPION, label, moves, "" if moves == 1 else "s")
                state = {"new_version": version, "new_label": label, "new_uri": uri, "champion": None,
                         "champion_label": None, "initial": True}
            else:
                champion_label = f"{self.registered_model}/{champion}"
                busy = split.canary.model_version not in (None, label, champion_label) and (
                    split.canary.weight > 0 or split.header_routes_to_canary)
                if busy:
                    raise RouterTransientError(
                        f"{self.traffic.describe()}: the canary slot serves {split.canary.model_version} with "
                        f"traffic (another rollout of {self.target}?); waiting for it to end"
                    )
                if split.stable.model_version != champion_label:
                    # the stable slot must serve @champion before a canary is judged against it; nothing relies
                    # on a server someone loaded by hand
                    self.log.warning("the stable slot serves %s, not the champion %s: loading the champion there "
                                     "(all traffic to stable) first", split.stable.model_version, champion_label)
                    self.traffic.initial_deploy(f"models:/{self.registered_model}/{champion}", champion_label)
                split = self.traffic.deploy_canary(uri, label, self.weight)
                state = {"new_version": version, "new_label": label, "new_uri": uri, "champion": champion,
                         "champion_label": champion_label, "initial": False}
        self.log_split("after", split)
        context["ti"].xcom_push(key=XCOM_ROLLOUT, value=state)
        return state


class RolloutShiftOperator(RolloutOperator):
    """``rollout.shift_<w>``: the canary to ``weight`` %, from whatever weight the router has now."""

    def __init__(self, *, weight: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.weight = weight

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        state = self.rollout(context)
        if state["initial"]:
            raise AirflowSkipException("initial deploy: nothing to shift")
        if self.promote_now(context):
            self.log.info("%s is set: leaving traffic as it is for rollout.promote", PROMOTE_NOW_PARAM)
            return
        with permanent_fails():
            split = self.traffic.read()
            self.log_split("before", split)
            if split.canary.model_version != state["new_label"]:
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(
                    f"the canary slot serves {split.canary.model_version}, not {state['new_label']}: something "
                    f"else changed it; clear rollout.deploy_canary to deploy again"
                )
            split = self.traffic.set_canary_weight(self.weight)
        self.log_split("after", split)


class RolloutPromoteOperator(RolloutOperator):
    """``rollout.promote``: champion → new, previous → old, stable slot reloaded with the new champion at 100 %.
    With ``hold_weight`` (a last step below 100) the A/B split is held and nothing is promoted unless the run
    has ``rollout_promote_now``."""

    def __init__(self, *, hold_weight: int | None = None, thresholds: dict[str, float] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold_weight = hold_weight
        self.thresholds = dict(thresholds or {})

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from airflow_aiinfra.rollout.registry import promote_aliases, tag_promoted

        state = self.rollout(context)
        if state["initial"]:
            raise AirflowSkipException("initial deploy: the version is already champion")
        if self.hold_weight is not None and not self.promote_now(context):
            self.log.info("A/B split held at %d %% canary; the judgment is on record. Trigger with "
                          "%s=true to promote.", self.hold_weight, PROMOTE_NOW_PARAM)
            self.record_chart(context, self.thresholds)
            return {"promoted": False, "held_at": self.hold_weight}
        with permanent_fails():
            self.log_split("before", self.traffic.read())
            split = self.traffic.promote(state["new_uri"], state["new_label"])
        hook = self.registry(context)
        with hook.session() as client:
            moves = promote_aliases(client, self.registered_model, state["new_version"], state["champion"])
            tag_promoted(client, self.registered_model, state["new_version"])
        self.log_split("after", split)
        self.log.info("promoted %s: champion → %s, previous → %s (%d alias moves)", state["new_label"],
                      state["new_version"], state["champion"], moves)
        self.record_chart(context, self.thresholds)
        return {"promoted": True, "champion": state["new_version"], "previous": state["champion"],
                "alias_moves": moves}


class RolloutRollbackOperator(RolloutOperator):
    """``rollout.rollback``: all traffic back to stable; champion untouched; the version tagged with why."""

    def __init__(self, *, thresholds: dict[str, float] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.thresholds = dict(thresholds or {})

    def reason(self, context: Any) -> dict[str, str]:
        for v in reversed(self.verdicts(context)):
            failed = [c for c in v["verdict"]["checks"] if c["outcome"] == "fail"]
            if v["verdict"]["outcome"] in ("fail", "no_data"):
                first = failed[0] if failed else {}
                return {"metric": str(first.get("metric", "requests")),
                        "value": str(first.get("canary_value", v["verdict"]["canary_requests"])),
                        "threshold": str(first.get("threshold", v["verdict"]["min_requests"])),
                        "step": str(v["step"]), "weight": str(v["weight"]),
                        "reason": v["verdict"]["message"]}
        return {"reason": "an analysis was marked failed or could not run (no failing verdict on record)"}

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_aiinfra.rollout.registry import tag_rolled_back

        state = context["ti"].xcom_pull(task_ids=ROLLOUT_DEPLOY, key=XCOM_ROLLOUT) or {}
        with permanent_fails():
            self.log_split("before", self.traffic.read())
            split = self.traffic.rollback()
        self.log_split("after", split)
        reason = self.reason(context)
        self.log.warning("rolled back %s: %s", state.get("new_label", "the canary"), reason.get("reason"))
        if state.get("new_version") and not state.get("initial"):
            hook = self.registry(context)
            with hook.session() as client:
                tag_rolled_back(client, self.registered_model, state["new_version"], reason)
        self.record_chart(context, self.thresholds)
        return {"rolled_back": state.get("new_label"), **reason}
