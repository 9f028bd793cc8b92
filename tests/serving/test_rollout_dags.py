"""The canary rollout end to end through real Airflow (``airflow dags test``: the analysis defers and its
trigger runs in line) against real processes: two model servers loaded through their admin API, HAProxy
steered on its runtime API, Prometheus scraping every second, MLflow's registry (SQLite) holding the
versions, and steady load from the test with no retries.

* healthy canary: through every step and promoted (champion and previous moved, stable slot reloaded); at
  each step the client-counted share of non-premium traffic is within 5 points of the weight; premium
  requests always reach the canary; zero failed requests at the client and at the servers;
* erring and slow canaries: each rolled back at the first analysis (all traffic, premium included, back to stable; champion
  unchanged; the version tagged with the failing metric, value, threshold and step; the DAG run failed while
  rollback succeeded);
* killed: the `airflow dags test` process SIGKILLed while step 40 is judged, the weight moved by hand, the
  remaining tasks of the same DAG run rerun: they act on the weight they read, with exactly the commands the
  remaining steps need.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_aiinfra.serving.loadgen import LoadGenerator, LoadStats
from tests.conftest import ROOT, VENV_BIN, AirflowHome, run_succeeded
from tests.serving.conftest import BACKEND, PREMIUM, ServingStack
from tests.support.models import sample_bodies
from tests.support.serving import count_delta, request_counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "rollout_e2e__pipeline"
RATE, PREMIUM_RATE = 120, 10
SPEC = """
name: rollout_e2e
defaults: {{retries: 1, retry_delay: 1s, retry_exponential_backoff: false}}
training_pipeline:
  stages:
    - {{name: train, image: busybox, command: ["true"]}}
experiment:
  tracking_uri: "{tracking_uri}"
  registered_model: recsys
  model_stage: train
model_serving:
  versions:
    - {{version: stable, weight: 80}}
    - {{version: canary, weight: 20, canary: true}}
  routing_rules:
    - {{condition: "user_type == 'premium'", target_version: canary}}
    - {{condition: default, target_version: stable}}
  monitoring:
    thresholds: {{error_rate: 0.05, latency_p99: {p99}}}
  rollout:
    steps: {steps}
    step_interval: 6s
    scrape_interval: 1s
    min_requests: 50
    prometheus_conn_id: prom_e2e
    router: {{type: haproxy, conn_id: router_e2e, backend: model_serving}}
"""
DAG_FILE = """# an airflow DAG file (Airflow's safe mode parses only files that say both words)
from tests.support.rollout_dag import rollout_dag

dag = rollout_dag({spec!r})
"""


class WeightWatcher:
    """Cuts the load into phases at every canary weight change the router reports (polled every 50 ms)."""

    def __init__(self, stack: ServingStack, load: LoadGenerator, premium: LoadGenerator) -> None:
        self.stack, self.load, self.premium = stack, load, premium
        self.phases: list[tuple[int, LoadStats]] = []
        self.premium_phases: list[tuple[int, LoadStats]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _weight(self) -> int:
        w = self.stack.router.weights(BACKEND)
        total = w["stable"] + w["canary"]
        return round(100 * w["canary"] / total) if total else -1

    def _run(self) -> None:
        current = self._weight()
        self.load.snapshot(reset=True)
        self.premium.snapshot(reset=True)
        while not self._stop.wait(0.05):
            weight = self._weight()
            if weight != current:
                self._cut(current)
                current = weight
        self._cut(current)

    def _cut(self, weight: int) -> None:
        self.phases.append((weight, self.load.snapshot(reset=True)))
        self.premium_phases.append((weight, self.premium.snapshot(reset=True)))

    def __enter__(self) -> WeightWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def rollout_home(airflow_home: AirflowHome, serving_stack: ServingStack) -> Iterator[AirflowHome]:
    """An Airflow home whose DAG is the rollout of a spec on the serving stack; champion restored after."""
    from mlflow import MlflowClient

    stack = serving_stack
    (airflow_home.dags / "aiinfra_dags.py").unlink()
    runtime_host, runtime_port = stack.runtime_api.rsplit(":", 1)
    airflow_home.extra_env.update(
        AIRFLOW_CONN_ROUTER_E2E=f"haproxy://{runtime_host}:{runtime_port}",
        AIRFLOW_CONN_PROM_E2E=f"prometheus://{stack.prometheus_url.split('://', 1)[1]}",
        PYTHONPATH=str(ROOT), MLFLOW_ALLOW_FILE_STORE="true", GIT_PYTHON_REFRESH="quiet",
    )
    client = MlflowClient(stack.registry.tracking_uri)
    stack.reset()
    _router_at_rest(stack)
    yield airflow_home
    client.set_registered_model_alias("recsys", "champion", stack.registry.versions["good"])
    try:
        client.delete_registered_model_alias("recsys", "previous")
    except Exception:
        pass
    stack.reset()


def _router_at_rest(stack: ServingStack) -> None:
    """Where traffic is between rollouts: all on stable (champion), canary in maintenance at weight 0."""
    stack.router.set_weight(BACKEND, "stable", 100)
    stack.router.set_weight(BACKEND, "canary", 0)
    stack.router.maint(BACKEND, "canary")


def _write_dag(home: AirflowHome, stack: ServingStack, steps: list[int], variant: str, p99: int = 250) -> None:
    """The spec's DAG serving ``variant`` as this run's version. p99 250 ms leaves room for the tail of a healthy
    canary taking all traffic on a machine shared with Airflow itself; the rollback tests use 50 ms (the
    slow variant sleeps 60 ms)."""
    spec = home.specs / "rollout_e2e.yaml"
    spec.write_text(SPEC.format(tracking_uri=stack.registry.tracking_uri, steps=steps, p99=p99))
    (home.dags / "rollout_e2e_dag.py").write_text(DAG_FILE.format(spec=str(spec)))
    home.extra_env["ROLLOUT_E2E_VERSION"] = stack.registry.versions[variant]


def _states(home: AirflowHome) -> dict[str, str]:
    con = sqlite3.connect(home.home / "airflow.db")
    rows = con.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)).fetchall()
    con.close()
    return dict(rows)


def _run_under_load(home: AirflowHome, stack: ServingStack) -> tuple[subprocess.CompletedProcess[str], LoadStats,
                                                                       LoadStats, WeightWatcher, dict]:
    before = request_counts(*_servers(stack))
    bodies = sample_bodies()
    with LoadGenerator(stack.scoring_url, rate=RATE, bodies=bodies) as load, \
            LoadGenerator(stack.scoring_url, rate=PREMIUM_RATE, bodies=bodies, headers=PREMIUM) as premium, \
            WeightWatcher(stack, load, premium) as watcher:
        proc = subprocess.run([str(VENV_BIN / "airflow"), "dags", "test", DAG_ID, "2024-06-01"], env=home.env,
                              cwd=home.root, text=True, capture_output=True, timeout=400)
        time.sleep(0.5)
    server_delta = count_delta(before, request_counts(*_servers(stack)))
    return proc, load.stats, premium.stats, watcher, server_delta


class _Url:
    def __init__(self, url: str) -> None:
        self.url = url


def _servers(stack: ServingStack) -> list[_Url]:
    return [_Url(stack.stable.url), _Url(stack.canary.url)]


def _log(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def test_healthy_canary_goes_through_every_step_and_is_promoted(rollout_home: AirflowHome,
                                                                serving_stack: ServingStack) -> None:
    from mlflow import MlflowClient

    stack, home = serving_stack, rollout_home
    steps = [25, 50, 100]
    _write_dag(home, stack, steps, "good2")
    new, old = stack.registry.label("good2"), stack.registry.label("good")
    proc, client_stats, premium_stats, watcher, server_delta = _run_under_load(home, stack)
    phases = watcher.phases
    out = _log(proc)
    assert run_succeeded(proc), out[-6000:]
    states = _states(home)
    assert states["rollout.promote"] == "success" and states["rollout.rollback"] == "skipped", states
    assert all(states[f"rollout.analyze_{w}"] == "success" for w in steps), states

    # the registry: champion → new, previous → old; the stable slot reloaded with the new champion, 100 %
    client = MlflowClient(stack.registry.tracking_uri)
    assert str(client.get_model_version_by_alias("recsys", "champion").version) == stack.registry.versions["good2"]
    assert str(client.get_model_version_by_alias("recsys", "previous").version) == stack.registry.versions["good"]
    assert stack.client("stable").model().model_version == new
    weights = stack.router.weights(BACKEND)
    assert weights["stable"] > 0 and weights["canary"] == 0
    assert stack.router.servers(BACKEND)["canary"].admin == "maint"

    # at each step, the non-premium share counted at the client from X-Model-Version is within 5 points
    seen = {w: s for w, s in phases if sum(s.by_version.values()) >= 200}
    for weight in steps:
        assert weight in seen, f"no phase at {weight} %: {[(w, s.summary()) for w, s in phases]}"
        stats = seen[weight]
        share = 100 * stats.by_version[new] / sum(stats.by_version.values())
        assert abs(share - weight) <= 5, (weight, stats.summary())
    # premium-header requests always reached the canary during the rollout (the new version at every step)
    for weight, stats in watcher.premium_phases:
        if weight in steps:
            assert set(stats.by_version) == {new}, (weight, stats.summary())
    assert premium_stats.failed == 0, premium_stats.summary()
    # zero failed requests, counted at the client and at the servers
    assert client_stats.failed == 0, client_stats.summary()
    assert client_stats.ok > RATE * 20 and old in client_stats.by_version
    assert not {k: v for k, v in server_delta.items() if not k[2].startswith("2")}, server_delta
    assert "initial deploy" not in out
    # on the record: step-indexed metrics and the chart on the pipeline's MLflow run
    run = client.search_runs([client.get_experiment_by_name("rollout_e2e").experiment_id])[0]
    history = client.get_metric_history(run.info.run_id, "rollout.canary.requests")
    assert [m.step for m in history] == [1, 2, 3]
    assert "rollout.png" in [a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run.info.run_id, "rollout")]


@pytest.mark.parametrize("variant, metric, breaks", [
    pytest.param("erring", "error_rate", "breaks the limit of at most 5.00%", id="erring"),
    pytest.param("slow", "latency_p99", "breaks the limit of at most 50 ms", id="slow"),
])
def test_bad_canary_is_rolled_back_at_the_first_analysis(rollout_home: AirflowHome, serving_stack: ServingStack,
                                                         variant: str, metric: str, breaks: str) -> None:
    from mlflow import MlflowClient

    stack, home = serving_stack, rollout_home
    _write_dag(home, stack, [25, 50, 100], variant, p99=50)
    bad = stack.registry.label(variant)
    proc, client_stats, premium_stats, _, _ = _run_under_load(home, stack)
    out = _log(proc)
    assert not run_succeeded(proc), out[-4000:]
    states = _states(home)
    assert states["rollout.analyze_25"] == "failed" and states["rollout.rollback"] == "success", states
    assert states["rollout.promote"] == "upstream_failed" and "rollout.shift_50" in states
    assert f"{metric}: canary {bad}" in out and breaks in out
    # all traffic back to stable, header-matched included; champion unchanged; the version tagged
    assert stack.router.weights(BACKEND)["canary"] == 0
    assert stack.router.servers(BACKEND)["canary"].admin == "maint"
    client = MlflowClient(stack.registry.tracking_uri)
    assert str(client.get_model_version_by_alias("recsys", "champion").version) == stack.registry.versions["good"]
    tags = client.get_model_version("recsys", stack.registry.versions[variant]).tags
    assert tags["rollout.status"] == "rolled_back" and tags["rollout.metric"] == metric and tags["rollout.step"] == "1"
    limit = {"error_rate": 0.05, "latency_p99": 50.0}[metric]
    assert float(tags["rollout.threshold"]) == limit and float(tags["rollout.value"]) > limit
    # after the rollback everything goes to stable, premium included (requests in flight at the switch finish
    # on the canary, so look at fresh traffic)
    for headers in ({}, PREMIUM):
        with LoadGenerator(stack.scoring_url, rate=50, bodies=sample_bodies(), headers=headers) as after:
            time.sleep(1.0)
        assert after.stats.failed == 0 and set(after.stats.by_version) == {stack.registry.label("good")}, (
            headers, after.stats.summary())
    assert client_stats.ok > 0 and premium_stats.ok > 0


def test_a_killed_rollout_run_continues_from_the_weight_it_reads(rollout_home: AirflowHome,
                                                                 serving_stack: ServingStack) -> None:
    """Steps 20/40/60/100: the `airflow dags test` process (the task running in it) is SIGKILLed while step 40
    is judged, the canary is moved to 60 % by hand, then the remaining tasks of the same DAG run are run again
    (`airflow tasks test ... RUN_ID`): shift_60 sends no command, shift_100 two, promote two weight commands
    and two alias moves."""
    import re
    import signal

    from mlflow import MlflowClient

    stack, home = serving_stack, rollout_home
    _write_dag(home, stack, [20, 40, 60, 100], "good2")
    log_path = home.root / "killed.log"
    load = LoadGenerator(stack.scoring_url, rate=RATE, bodies=sample_bodies()).start()
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([str(VENV_BIN / "airflow"), "dags", "test", DAG_ID, "2024-06-01"], env=home.env,
                                cwd=home.root, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            w = stack.router.weights(BACKEND)
            if w["canary"] == 40 and w["stable"] == 60:
                break
            time.sleep(0.1)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        time.sleep(1.0)  # inside analyze_40's window
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        load.stop()
    assert load.stats.failed == 0, load.stats.summary()
    assert "router command: set weight model_serving/canary 40" in log_path.read_text()
    stack.router.set_weight(BACKEND, "canary", 60)  # changed from outside while nothing ran
    stack.router.set_weight(BACKEND, "stable", 40)

    con = sqlite3.connect(home.home / "airflow.db")
    run_id = con.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchone()[0]
    con.close()
    sent: dict[str, list[str]] = {}
    for task in ("rollout.shift_60", "rollout.shift_100", "rollout.promote"):
        out = home.airflow("tasks", "test", DAG_ID, task, run_id, timeout=180)
        text = out.stdout + out.stderr
        assert out.returncode == 0, text[-3000:]
        sent[task] = re.findall(r"router command: (set weight \S+ \d+)", text)
        if task == "rollout.promote":
            assert "(2 alias moves)" in text, text[-3000:]
    assert sent == {
        "rollout.shift_60": [],  # it read 60: nothing to do
        "rollout.shift_100": ["set weight model_serving/canary 100", "set weight model_serving/stable 0"],
        "rollout.promote": ["set weight model_serving/stable 100", "set weight model_serving/canary 0"],
    }
    client = MlflowClient(stack.registry.tracking_uri)
    assert str(client.get_model_version_by_alias("recsys", "champion").version) == stack.registry.versions["good2"]
    assert stack.client("stable").model().model_version == stack.registry.label("good2")
