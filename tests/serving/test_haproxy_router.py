"""HaproxyRouter on the real stack (HAProxy runtime API + the model servers' admin API): first deploy, a
canary deployed and shifted, promotion and rollback, each read-before-write, so calling it again sends
nothing; and a rollout process killed mid-way whose rerun acts on the weight it reads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_aiinfra.errors import RouterPermanentError, RouterTransientError
from airflow_aiinfra.rollout.routers.factory import router_for
from airflow_aiinfra.rollout.routers.haproxy import HaproxyRouter
from tests.serving.conftest import BACKEND, ServingStack
from tests.support.serving import ROOT, free_port

pytestmark = pytest.mark.integration


def _router(stack: ServingStack) -> HaproxyRouter:
    router = router_for("haproxy", {"conn_id": "unused", "backend": BACKEND, "stable_server": "stable",
                                    "canary_server": "canary", "runtime_api": stack.runtime_api, "admin_token": ""})
    assert isinstance(router, HaproxyRouter)
    return router


def test_first_deploy_then_canary_promote_and_rollback_are_idempotent(serving_stack: ServingStack) -> None:
    stack = serving_stack
    stack.reset(canary_variant="good2")
    good, good2 = stack.registry.label("good"), stack.registry.label("good2")
    router = _router(stack)

    split = router.initial_deploy(stack.registry.uri("good"), good)
    assert (split.stable.weight, split.stable.model_version, split.header_routes_to_canary) == (100, good, False)
    assert _router(stack).initial_deploy(stack.registry.uri("good"), good) == split  # again: nothing sent
    again = _router(stack)
    again.initial_deploy(stack.registry.uri("good"), good)
    assert again.commands == []

    router = _router(stack)
    split = router.deploy_canary(stack.registry.uri("good2"), good2, 10)
    assert (split.canary.weight, split.canary.model_version, split.header_routes_to_canary) == (10, good2, True)
    again = _router(stack)
    assert again.deploy_canary(stack.registry.uri("good2"), good2, 10) == split and again.commands == []

    router = _router(stack)
    assert router.set_canary_weight(50).canary.weight == 50
    assert router.weight_commands == [f"set weight {BACKEND}/canary 50", f"set weight {BACKEND}/stable 50"]

    router = _router(stack)
    split = router.promote(stack.registry.uri("good2"), good2)
    assert (split.stable.weight, split.stable.model_version, split.canary.weight) == (100, good2, 0)
    assert not split.header_routes_to_canary
    assert f"load stable {stack.registry.uri('good2')}" in router.commands
    again = _router(stack)
    assert again.promote(stack.registry.uri("good2"), good2) == split and again.commands == []  # promote twice

    router = _router(stack)
    router.rollback()
    assert router.commands == []  # after a promotion nothing is on the canary: rollback changes nothing
    stack.router.set_weight(BACKEND, "canary", 30)
    stack.router.ready(BACKEND, "canary")
    split = _router(stack).rollback()
    assert (split.canary.weight, split.header_routes_to_canary) == (0, False)
    twice = _router(stack)
    assert twice.rollback() == split and twice.commands == []  # rollback twice is safe


def test_a_missing_slot_server_is_permanent_and_an_unreachable_router_transient(serving_stack: ServingStack) -> None:
    stack = serving_stack
    with pytest.raises(RouterPermanentError, match="has no server 'blue'"):
        router_for("haproxy", {"backend": BACKEND, "stable_server": "blue", "canary_server": "canary",
                               "runtime_api": stack.runtime_api, "admin_token": ""}).read()
    with pytest.raises(RouterTransientError, match="unreachable"):
        router_for("haproxy", {"backend": BACKEND, "runtime_api": f"127.0.0.1:{free_port()}",
                               "admin_token": ""}).read()


KILLED = """
import sys, time
from airflow_aiinfra.rollout.routers.haproxy import HaproxyRouter
r = HaproxyRouter(backend="model_serving", runtime_api=sys.argv[1], admin_token="")
r.deploy_canary(sys.argv[2], sys.argv[3], 20)
r.set_canary_weight(40)
print("at 40", flush=True)
time.sleep(60)  # the analysis of step 40: killed here
r.set_canary_weight(60)
"""


def test_a_killed_rollout_rerun_acts_on_the_weight_it_reads(serving_stack: ServingStack) -> None:
    """Steps 20/40/60/100: the process is killed while step 40 is judged, someone moves the canary to 60 by
    hand, the rerun continues from 60: no command for 60, two for 100, two for the promotion."""
    from mlflow import MlflowClient

    from airflow_aiinfra.rollout.registry import alias_version, promote_aliases

    stack = serving_stack
    stack.reset(canary_variant="good")
    router = _router(stack)
    router.rollback()
    good2 = stack.registry.label("good2")
    proc = subprocess.Popen([sys.executable, "-c", KILLED, stack.runtime_api, stack.registry.uri("good2"), good2],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        assert any(line.strip() == "at 40" for line in proc.stdout), "the rollout process never reached 40 %"
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _router(stack).read().canary.weight == 40
    stack.router.set_weight(BACKEND, "canary", 60)  # changed from outside
    stack.router.set_weight(BACKEND, "stable", 40)

    rerun = _router(stack)
    assert rerun.read().canary == type(rerun.read().canary)(60, good2)
    for weight in (60, 100):  # the remaining steps, as shift_60 and shift_100 would run them
        assert rerun.set_canary_weight(weight).canary.weight == weight
    assert rerun.weight_commands == [f"set weight {BACKEND}/canary 100", f"set weight {BACKEND}/stable 0"]
    client = MlflowClient(stack.registry.tracking_uri)
    try:
        rerun.promote(stack.registry.uri("good2"), good2)
        moves = promote_aliases(client, "recsys", stack.registry.versions["good2"], stack.registry.versions["good"])
        assert moves == 2 and alias_version(client, "recsys", "champion") == stack.registry.versions["good2"]
        assert promote_aliases(client, "recsys", stack.registry.versions["good2"],
                               stack.registry.versions["good"]) == 0  # promote again: no alias move
        assert rerun.weight_commands[2:] == [f"set weight {BACKEND}/stable 100", f"set weight {BACKEND}/canary 0"]
        assert rerun.read().stable.model_version == good2
    finally:
        client.set_registered_model_alias("recsys", "champion", stack.registry.versions["good"])
        client.delete_registered_model_alias("recsys", "previous")
        stack.client("stable").load(stack.registry.uri("good"))  # the fixture's champion, for the next test


class _TI:
    def __init__(self, xcoms: dict) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> object:
        return self.xcoms.get((task_ids, key))

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[("self", key)] = value


def test_a_second_rollout_of_the_target_waits_while_another_version_holds_the_canary(
        serving_stack: ServingStack) -> None:
    """deploy_canary refuses (a retryable error) while the canary slot serves another version with traffic,
    and touches nothing; the pool (one slot per target) keeps two rollouts apart in the scheduler."""
    from airflow.sdk import DAG, TaskGroup

    from airflow_aiinfra.contract import MLFLOW_REGISTER_MODEL, MLFLOW_START_RUN, XCOM_MLFLOW_RUN
    from airflow_aiinfra.operators.rollout import RolloutDeployOperator

    stack = serving_stack
    stack.reset(canary_variant="good2", stable_weight=80, canary_weight=20)  # a rollout of recsys/2 under way
    with DAG("second", schedule=None) as dag:
        with TaskGroup("mlflow"):
            from airflow.sdk import BaseOperator

            BaseOperator(task_id="start_run")
        with TaskGroup("rollout"):
            deploy = RolloutDeployOperator(task_id="deploy_canary", weight=10, registered_model="recsys",
                                           router_type="haproxy", target="haproxy:test",
                                           router={"backend": BACKEND, "runtime_api": stack.runtime_api,
                                                   "admin_token": ""})
    ti = _TI({(MLFLOW_START_RUN, XCOM_MLFLOW_RUN): {"tracking_uri": stack.registry.tracking_uri, "run_id": "x"},
              (MLFLOW_REGISTER_MODEL, "return_value"): {"name": "recsys", "version": stack.registry.versions["slow"]}})
    before = stack.router.weights(BACKEND)
    with pytest.raises(RouterTransientError, match="serves recsys/2 with traffic .*another rollout"):
        deploy.execute({"ti": ti, "dag": dag, "params": {}})
    assert stack.router.weights(BACKEND) == before
    assert stack.client("canary").model().model_version == stack.registry.label("good2")
