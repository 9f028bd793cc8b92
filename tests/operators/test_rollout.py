"""Rollout operators without a serving stack: the manual controls (promote now), the initial-deploy skips,
the analysis deferring to its window trigger, the trigger's event, and the rollback's reason."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from airflow_aiinfra.contract import PROMOTE_NOW_PARAM, XCOM_ROLLOUT, XCOM_VERDICT
from airflow_aiinfra.operators.rollout import RolloutRollbackOperator, RolloutShiftOperator
from airflow_aiinfra.sensors.rollout import RolloutAnalysisSensor
from airflow_aiinfra.triggers.rollout import RolloutWindowTrigger

COMMON: dict[str, Any] = {"registered_model": "recsys", "router_type": "haproxy", "target": "haproxy:t",
                          "router": {"runtime_api": "127.0.0.1:1", "admin_token": ""}}
STATE = {"new_version": "2", "new_label": "recsys/2", "new_uri": "models:/recsys/2", "champion": "1",
         "champion_label": "recsys/1", "initial": False}


class _TI:
    """XCom by (task id, key), as the rollout tasks read and write it."""

    def __init__(self, xcoms: dict[tuple[str, str], Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[("self", key)] = value


def _context(state: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"ti": _TI({("rollout.deploy_canary", XCOM_ROLLOUT): state}), "params": params}


def _sensor() -> RolloutAnalysisSensor:
    return RolloutAnalysisSensor(task_id="analyze_20", weight=20, step=1, window_seconds=30,
                                 scrape_interval_seconds=1, **COMMON)


def test_analysis_defers_to_its_window_trigger() -> None:
    with pytest.raises(TaskDeferred) as info:
        _sensor().execute(_context(STATE))
    trigger = info.value.trigger
    assert isinstance(trigger, RolloutWindowTrigger) and info.value.method_name == "execute_complete"
    assert trigger.until - trigger.window_end == pytest.approx(1.5)
    assert 29 < trigger.window_end - time.time() <= 30


def test_promote_now_lets_analyses_and_shifts_be_and_initial_deploy_skips_them() -> None:
    # the router address is dead: anything that touched it would raise
    assert _sensor().execute(_context(STATE, **{PROMOTE_NOW_PARAM: True})) is None
    shift = RolloutShiftOperator(task_id="shift_50", weight=50, **COMMON)
    assert shift.execute(_context(STATE, **{PROMOTE_NOW_PARAM: True})) is None
    with pytest.raises(AirflowSkipException, match="initial deploy"):
        _sensor().execute(_context(STATE | {"initial": True}))
    with pytest.raises(AirflowSkipException, match="initial deploy"):
        shift.execute(_context(STATE | {"initial": True}))


def test_trigger_serializes_its_constructor_and_yields_one_event() -> None:
    trigger = RolloutWindowTrigger(until=time.time() + 0.05, window_end=123.0, failures=1, step=2, weight=50)
    path, kwargs = trigger.serialize()
    assert path == "airflow_aiinfra.triggers.rollout.RolloutWindowTrigger"
    again = RolloutWindowTrigger(**kwargs)

    async def first() -> Any:
        async for event in again.run():
            return event.payload

    assert asyncio.run(first()) == {"status": "elapsed", "window_end": 123.0, "failures": 1}


def test_rollback_reason_names_the_failing_metric_value_threshold_and_step() -> None:
    from airflow.sdk import DAG, TaskGroup

    with DAG("d", schedule=None), TaskGroup("rollout"):
        _sensor()
        RolloutAnalysisSensor(task_id="analyze_50", weight=50, step=2, window_seconds=30, **COMMON)
        op = RolloutRollbackOperator(task_id="rollback", **COMMON)
    verdict = {"outcome": "fail", "canary_requests": 300.0, "min_requests": 50, "message": "canary recsys/2 failed",
               "checks": [{"metric": "error_rate", "kind": "threshold", "outcome": "fail", "canary_value": 0.3,
                           "stable_value": 0.0, "threshold": 0.05, "p_value": None, "message": "..."}]}
    ti = _TI({("rollout.analyze_20", XCOM_VERDICT): {"step": 1, "weight": 20, "verdict": verdict}})
    reason = op.reason({"ti": ti})
    assert reason == {"metric": "error_rate", "value": "0.3", "threshold": "0.05", "step": "1", "weight": "20",
                      "reason": "canary recsys/2 failed"}
    assert "marked failed" in op.reason({"ti": _TI({})})["reason"]  # a manual fail: no verdict on record


class _Judged(RolloutAnalysisSensor):
    """The sensor with its Prometheus reads replaced by a fixed verdict (the judging on real metrics is
    tests/serving/test_rollout_analysis_sensor.py); the router address is dead, so read() is stubbed too."""

    outcome = "fail"

    def judge_window(self, state: dict[str, Any], end: float) -> Any:
        from airflow_aiinfra.rollout.judge import Check, Outcome, Verdict

        check = Check("error_rate", "threshold", Outcome(self.outcome), 0.3, 0.0, 0.05, None, "error_rate: 30%")
        return Verdict(Outcome(self.outcome), "recsys/2", "recsys/1", 500.0, 50, (check,), f"{self.outcome}!")

    @property
    def traffic(self) -> Any:  # type: ignore[override]
        from airflow_aiinfra.rollout.traffic import SlotState, Split

        class _Router:
            def read(self) -> Split:
                return Split(SlotState(80, "recsys/1"), SlotState(20, "recsys/2"), True)

        return _Router()


def test_max_failed_checks_judges_another_window_before_failing() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    sensor = _Judged(task_id="analyze_20", weight=20, step=1, window_seconds=30, max_failed_checks=2, **COMMON)
    event = {"status": "elapsed", "window_end": time.time(), "failures": 0}
    with pytest.raises(TaskDeferred) as info:  # 1 of 2 consecutive failures: another window
        sensor.execute_complete(_context(STATE), event)
    assert info.value.trigger.failures == 1
    with pytest.raises(AirflowFailException, match=r"step 1 \(20 %\): fail!"):  # the second: fail, no retries
        sensor.execute_complete(_context(STATE), event | {"failures": 1})


def test_an_ab_split_is_held_unless_promoted_now() -> None:
    from airflow.sdk import DAG, TaskGroup

    from airflow_aiinfra.operators.rollout import RolloutPromoteOperator

    with DAG("ab", schedule=None), TaskGroup("rollout"):
        promote = RolloutPromoteOperator(task_id="promote", hold_weight=50, **COMMON)
    assert promote.execute(_context(STATE)) == {"promoted": False, "held_at": 50}  # the dead router untouched
