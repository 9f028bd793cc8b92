"""StageOperator: the runner switch and the local runner's contract."""

from __future__ import annotations

import sys
from unittest import mock

import pytest
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from airflow_aiinfra.operators.local_runner import stage_env, unenforced
from airflow_aiinfra.operators.stage import StageOperator


def make(**kw) -> StageOperator:
    kw.setdefault("task_id", "s")
    kw.setdefault("image", "img")
    return StageOperator(**kw)


def test_local_runner_without_command_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "local")
    with pytest.raises(AirflowFailException, match="has no `command`, so the local runner cannot run it"):
        make().execute({})


def test_local_runner_streams_output_and_fails_on_non_zero_exit(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from airflow.sdk.exceptions import AirflowException

    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "local")
    op = make(cmds=[sys.executable, "-c"], arguments=["print('hello from stage'); raise SystemExit(4)"])
    with pytest.raises(AirflowException, match="exited with code 4"):
        op.execute({})


def test_local_runner_skip_on_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "local")
    op = make(cmds=[sys.executable, "-c", "raise SystemExit(99)"], skip_on_exit_code=99)
    with pytest.raises(AirflowSkipException):
        op.execute({})


def test_kubernetes_runner_is_the_pod_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "kubernetes")
    op = make(cmds=["true"])
    # No cluster exists here: stand in for the provider's own execute to see it is what runs.
    with mock.patch.object(KubernetesPodOperator, "execute", autospec=True, return_value="pod-ran") as kpo:
        assert op.execute({}) == "pod-ran"
    kpo.assert_called_once()


def test_unknown_runner_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "docker")
    with pytest.raises(ValueError, match=r"\[aiinfra\] runner = 'docker'; use one of kubernetes, local"):
        make(cmds=["true"]).execute({})


def test_stage_env_hides_airflow_secrets_and_sets_gpus() -> None:
    env = stage_env({"A": 1}, 3, base={"PATH": "/bin", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:p@h/db",
                                       "AIRFLOW_CONN_X": "s3://k:s@b", "AIRFLOW_VAR_TOKEN": "t"})
    assert env == {"PATH": "/bin", "A": "1", "CUDA_VISIBLE_DEVICES": "0,1,2"}
    assert stage_env({}, 0, base={})["CUDA_VISIBLE_DEVICES"] == ""


def test_unenforced_requests_are_listed() -> None:
    from kubernetes.client import models as k8s

    op = make(cmds=["true"], container_resources=k8s.V1ResourceRequirements(
        requests={"cpu": "2", "nvidia.com/gpu": "1"}, limits={"memory": "1Gi"}))
    notes = unenforced(op)
    assert "resource requests {'cpu': '2'} are not enforced" in notes
    assert "resource limits {'memory': '1Gi'} are not enforced" in notes


def test_local_runner_says_once_what_it_trusts_a_command_with(caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    import airflow_aiinfra.operators.local_runner as lr

    log = logging.getLogger("aiinfra.test.trust")
    monkeypatch.setattr(lr, "_trust_logged", False)
    with caplog.at_level(logging.WARNING, logger=log.name):
        lr.log_trust_once(log)
        lr.log_trust_once(log)
    (record,) = [r for r in caplog.records if r.name == log.name]
    message = record.getMessage()
    assert "run on this worker as its user" in message and "trusted, single-team use only" in message


def test_secret_refs_of_a_local_stage_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.cncf.kubernetes.secret import Secret
    from airflow.sdk._shared.secrets_masker import redact

    value = "db-pw-3f9a7c21e8"  # not a sensitive-looking name: masked because a secret ref names it
    monkeypatch.setenv("AIRFLOW__AIINFRA__RUNNER", "local")
    monkeypatch.setenv("WAREHOUSE_DSN_PART", value)
    op = make(cmds=[sys.executable, "-c"], arguments=["import os; print(os.environ['WAREHOUSE_DSN_PART'])"],
              secrets=[Secret("env", "WAREHOUSE_DSN_PART", "warehouse", "dsn")])
    assert value in redact(f"seen {value}")  # not known to the masker before the stage runs
    op.execute({})
    assert redact(f"seen {value}") == "seen ***"
