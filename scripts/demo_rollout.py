"""`make demo`, the serving half: the example's pipeline runs with its canary rollout against real processes.

Starts two model servers (empty: the rollout loads them through their admin API), HAProxy and Prometheus
from the configs `aiinfra render` prints for specs/recsys.yaml (on free ports), then runs
``airflow dags test recsys__pipeline`` twice under steady load from this script (no retries):

1. the first run registers version N; with no champion yet it is the **initial deploy** (stable slot, 100 %);
2. the second run registers N+1 and rolls it out 20 → 50 → 100 % under load, judged on Prometheus at every
   step, and promotes it (champion N+1, previous N, stable slot reloaded).

The serving processes keep running after the demo so their pages can be looked at (``make demo-stop``
ends them; ``DEMO_KEEP_SERVING=0`` stops them at the end).

Usage: python scripts/demo_rollout.py DATE1 DATE2
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_aiinfra.serving.loadgen import LoadGenerator  # noqa: E402
from airflow_aiinfra.spec.load import load_spec  # noqa: E402
from airflow_aiinfra.wiring.serving_render import ServingAddresses, haproxy_site, prometheus_config  # noqa: E402
from tests.support.serving import Haproxy, ModelServer, Prometheus, free_port, stop_process_group  # noqa: E402

DAG_ID = "recsys__pipeline"


def bodies() -> list[bytes]:
    import random

    rng = random.Random(0)
    return [json.dumps({"dataframe_split": {"columns": ["user_click_count", "session_seconds"],
                                            "data": [[rng.randint(0, 40), round(rng.uniform(5, 600), 1)]]}}).encode()
            for _ in range(64)]


def champion(tracking_uri: str) -> str | None:
    from mlflow import MlflowClient

    try:
        return str(MlflowClient(tracking_uri).get_model_version_by_alias("recsys", "champion").version)
    except Exception:
        return None


def wait_up(haproxy: Haproxy, backend: str, server: str, timeout: float = 30.0) -> None:
    """Until HAProxy's health check (GET /ready every second) has marked ``server`` up: traffic sent before
    would find no server up and get 503 from HAProxy itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if haproxy.hook.servers(backend)[server].operational == "running":
            return
        time.sleep(0.2)
    raise RuntimeError(f"HAProxy never marked {backend}/{server} up")


def dags_test(date: str, log: Path) -> bool:
    with open(log, "w") as out:
        subprocess.run(["airflow", "dags", "test", DAG_ID, date], stdout=out, stderr=subprocess.STDOUT,
                       cwd=ROOT, check=False)
    text = log.read_text(errors="replace")
    ok = "DagRun Finished" in text and "state=success" in text.split("DagRun Finished")[-1].split("\n", 1)[0]
    for line in text.splitlines():
        if any(k in line for k in ("initial deploy", "rollout.analyze", "passed", "promoted", "rolled back",
                                   "alias champion")) and ("[info" in line or "[warning" in line):
            message = line.split("] ", 1)[-1].split(" [airflow", 1)[0]
            if any(k in message for k in ("initial deploy", "passed", "promoted", "rolled back", "alias champion",
                                          "failed:")):
                print("   ", message[:200])
    return ok


def main(date1: str, date2: str) -> int:
    home = Path(os.environ["AIRFLOW_HOME"])
    work = home.parent / "serving"
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    spec = load_spec(ROOT / "specs" / "recsys.yaml").spec
    where = ServingAddresses(stable=f"127.0.0.1:{free_port()}", canary=f"127.0.0.1:{free_port()}",
                             bind=f"127.0.0.1:{free_port()}", runtime_api=f"127.0.0.1:{free_port()}",
                             exporter=f"127.0.0.1:{free_port()}")
    from airflow_aiinfra.serving.config import ServerConfig

    servers = [ModelServer(work / slot, ServerConfig(slot=slot, port=int(addr.rsplit(":", 1)[1]),
                                                     tracking_uri=tracking_uri))
               for slot, addr in (("stable", where.stable), ("canary", where.canary))]
    site = haproxy_site(spec, where)
    haproxy = Haproxy(work / "haproxy", site, "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else "haproxy")
    prom_cfg = prometheus_config(spec, where)
    prometheus = Prometheus(work / "prometheus", {j["job_name"]: j["static_configs"][0]["targets"]
                                                  for j in prom_cfg["scrape_configs"]},
                            interval=prom_cfg["global"]["scrape_interval"])
    pids = work / "pids"
    if pids.exists():  # what an earlier demo left running (its own process groups only)
        for pid in pids.read_text().split():
            stop_process_group(int(pid))
        pids.unlink()
    started = []
    print(f"== serving: model servers {where.stable} / {where.canary}, HAProxy {where.bind}, Prometheus")
    for process in (*servers, haproxy, prometheus):
        started.append(process.start())
    for server in servers:
        server.wait_listening(120)
    pids.write_text("\n".join(str(p.pid) for p in started) + "\n")
    os.environ["AIRFLOW_CONN_AIINFRA_ROUTER"] = f"haproxy://{where.runtime_api}"
    os.environ["AIRFLOW_CONN_AIINFRA_PROMETHEUS"] = f"prometheus://{prometheus.url.split('://', 1)[1]}"
    scoring = haproxy.url + "/invocations"
    ok = True
    try:
        for i, date in enumerate((date1, date2), start=1):
            current = champion(tracking_uri)
            load = None
            if current:  # the stable slot serves the champion before the run, and traffic flows
                from airflow_aiinfra.serving.client import ModelServerClient

                ModelServerClient(servers[0].url, timeout=120).load("models:/recsys@champion")
                wait_up(haproxy, site.backend, site.servers[0].name)  # HAProxy's health check saw it serve
                load = LoadGenerator(scoring, rate=60, bodies=bodies()).start()
            what = f"canary rollout of the new version under load (champion v{current})" if current else \
                "first deploy (no champion yet)"
            print(f"== run {i}: airflow dags test {DAG_ID} {date}: {what}")
            run_ok = dags_test(date, home / f"demo-run-{i}.log")
            if load is not None:
                stats = load.stop()
                print(f"   load through HAProxy: {stats.summary()}")
            print(f"   {DAG_ID} {date}: {'success' if run_ok else 'FAILED'} (log {home / f'demo-run-{i}.log'})")
            ok = ok and run_ok
        final = champion(tracking_uri)
        print(f"== champion is now recsys v{final}")
        print("== where to look")
        print(f"   MLflow: mlflow ui --backend-store-uri {tracking_uri}  (run of the last DAG run: metrics "
              f"rollout.*, artifact rollout/rollout.png)")
        print(f"   HAProxy: {haproxy.url} (scoring), runtime API {where.runtime_api} "
              f"(echo 'show servers state' | nc {where.runtime_api.replace(':', ' ')}), "
              f"exporter http://{where.exporter}/metrics")
        print(f"   Prometheus: {prometheus.url}/graph?g0.expr=sum%20by%20(model_version)"
              f"(rate(aiinfra_model_requests_total%5B10s%5D))")
    finally:
        if os.environ.get("DEMO_KEEP_SERVING", "1") == "0":
            for process in reversed(started):
                process.stop()
        else:
            print(f"   (serving processes keep running; stop them with: make demo-stop, pids in {work / 'pids'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
