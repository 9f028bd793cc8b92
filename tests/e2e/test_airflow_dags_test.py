"""`airflow dags test` of specs with the local runner: real commands, real retries, no cluster."""

from __future__ import annotations

import pytest

from tests.conftest import AirflowHome, run_succeeded

pytestmark = pytest.mark.slow

SPEC = """
name: localrun
defaults:
  retries: 1
  retry_delay: 1s
  retry_exponential_backoff: false
training_pipeline:
  stages:
    - name: prepare
      image: busybox
      command: ["python", "-c", "import os; open(os.environ['OUT'], 'w').write(os.environ['CUDA_VISIBLE_DEVICES'] + '|{{ ds }}|' + os.environ.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', 'hidden'))"]
      env: {OUT: "{OUT}"}
      resources: {cpu: "1", memory: 1Gi, gpu: 2}
    - name: train
      image: busybox
      depends_on: [prepare]
      command: ["python", "-c", "import sys; print('training'); sys.exit({EXIT})"]
    - name: report
      image: busybox
      depends_on: [train]
      command: ["python", "-c", "print('report')"]
"""


def _spec(out: str, exit_code: int) -> str:
    return SPEC.replace("{OUT}", out).replace("{EXIT}", str(exit_code))


def test_local_runner_runs_real_commands_to_success(airflow_home: AirflowHome) -> None:
    out = airflow_home.root / "prepare.out"
    airflow_home.add_spec("localrun.yaml", _spec(str(out), 0))
    proc = airflow_home.dags_test("localrun__pipeline", "2024-06-01")
    assert run_succeeded(proc), proc.stdout[-3000:] + proc.stderr[-3000:]
    # GPUs from the request, the templated data interval, and no Airflow secrets leak into the stage
    assert out.read_text() == "0,1|2024-06-01|hidden"
    assert "local runner: resource requests {'cpu': '1', 'memory': '1Gi'} are not enforced" in proc.stdout
    states = airflow_home.task_states("localrun__pipeline", proc.stdout)
    assert states == {"training.prepare": "success", "training.train": "success", "training.report": "success"}


def test_failing_stage_fails_its_task_after_a_retry(airflow_home: AirflowHome) -> None:
    airflow_home.add_spec("localrun.yaml", _spec(str(airflow_home.root / "x.out"), 3))
    proc = airflow_home.dags_test("localrun__pipeline", "2024-06-01")
    out = proc.stdout + proc.stderr
    assert not run_succeeded(proc)
    assert out.count("stage 'training.train' command exited with code 3") == 2  # first try + 1 retry
    assert "new_state=up_for_retry" in out
    states = airflow_home.task_states("localrun__pipeline", proc.stdout)
    assert states["training.prepare"] == "success"
    assert states["training.train"] == "failed"
    assert states["training.report"] == "upstream_failed"


def test_stage_timeout_kills_the_subprocess(airflow_home: AirflowHome) -> None:
    import os

    pid_file = airflow_home.root / "child.pid"
    airflow_home.add_spec("slow.yaml", f"""
name: slow
defaults: {{retries: 0}}
training_pipeline:
  stages:
    - name: sleepy
      image: busybox
      timeout: 10s  # ample for the child to start on a loaded machine; it sleeps 120 s
      command: ["python", "-c", "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"]
""")
    proc = airflow_home.dags_test("slow__pipeline", "2024-06-01")
    assert not run_succeeded(proc)
    assert airflow_home.task_states("slow__pipeline", proc.stdout)["training.sleepy"] == "failed"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.integration
def test_dags_test_with_the_metadata_db_on_postgres(airflow_home: AirflowHome, postgres_url: str) -> None:
    from tests.conftest import fresh_database, scoped

    url = fresh_database("aiinfra_test_airflow_meta")
    airflow_home.extra_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
    migrate = airflow_home.airflow("db", "migrate")
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    airflow_home.add_spec("localrun.yaml", _spec(str(airflow_home.root / "p.out"), 0))
    proc = airflow_home.dags_test("localrun__pipeline", "2024-06-01")
    assert run_succeeded(proc), proc.stdout[-3000:]
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=scoped("aiinfra_test_airflow_meta")) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT task_id, state FROM task_instance WHERE dag_id = 'localrun__pipeline'")
            assert dict(cur.fetchall()) == {"training.prepare": "success", "training.train": "success",
                                            "training.report": "success"}


def test_a_stage_task_imports_no_mlflow_feast_or_gx(airflow_home: AirflowHome) -> None:
    """In a spec with every integration, a stage task alone (`airflow tasks test`, its own process, the way an
    executor runs it) imports none of the libraries that cost seconds: its outcome goes to XCom, and
    mlflow.end_run logs it on the MLflow run."""
    from tests.conftest import ROOT

    text = (ROOT / "specs" / "recsys.yaml").read_text()
    airflow_home.add_spec("recsys.yaml", text.replace('["python", "examples/recsys/prepare.py"]',
                                                      '["python", "-c", "print(42)"]'))
    proc = airflow_home.airflow("tasks", "test", "recsys__pipeline", "training.data_preparation", "2024-06-01",
                                env_extra={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "42" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "airflow_aiinfra" in imported and "kubernetes" in imported  # the check sees the task's imports
    assert imported & {"mlflow", "feast", "great_expectations"} == set()
