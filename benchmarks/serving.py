"""Serving benchmark: two MLflow model servers behind HAProxy at 80/20, driven by wrk (no retries).

Measures (see benchmarks/README.md, "Serving", for the method and the results):

1. how long after ``set weight`` HAProxy routes by the new weight (idle, sequential probe requests);
2. the closed-loop sweep: wrk at 4..64 connections for a few seconds each; the highest rate with zero
   failures, with its p99;
3. the sustained run: wrk paced to a target rate (default 850 req/s) for 60 s while the split goes through
   a whole rollout (weights 20 → 5 → 25 → 50 → 100 → 50 → 20) and the canary hot-loads two versions;
   failures counted by wrk, by the servers' own metrics and by HAProxy; CPU per process;
4. the reference: the same sweep against a trivial FastAPI app (benchmarks/trivial_app.py) behind the
   same HAProxy config.

With ``--rollout-only``: 1, then the sustained run while the product's own ``HaproxyRouter`` (what the
rollout tasks call) deploys recsys/2 to the canary slot at 20 %, shifts it to 50 and 100 % and promotes it.

    .venv/bin/python benchmarks/serving.py [--rate 850] [--duration 60] [--out /tmp/serving-bench.json]

Needs haproxy and wrk (scripts/install_serving_tools.sh). Takes about 4 minutes and both cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_aiinfra.hooks.haproxy import HaproxyHook  # noqa: E402
from airflow_aiinfra.serving.client import ModelServerClient  # noqa: E402
from airflow_aiinfra.serving.config import ServerConfig  # noqa: E402
from airflow_aiinfra.serving.haproxy_config import HaproxyServer, HaproxySite  # noqa: E402
from tests.support.models import build_registry, load_registry, request_body  # noqa: E402
from tests.support.serving import (  # noqa: E402
    Haproxy,
    ModelServer,
    Process,
    count_delta,
    free_port,
    http_ok,
    request_counts,
    scrape,
)

BACKEND = "model_serving"
BODY = request_body([0.1, 0.9, 0.3, 0.4]).decode()
WRK_LUA = r"""
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) versions = {} end
if delay_ms > 0 then function delay() return delay_ms end end
function response(status, headers, body)
  local v = headers["x-model-version"] or headers["X-Model-Version"] or "none"
  versions[v] = (versions[v] or 0) + 1
end
function done(summary, latency, requests)
  local parts = {}
  for _, t in ipairs(threads) do
    for k, n in pairs(t:get("versions")) do parts[k] = (parts[k] or 0) + n end
  end
  local vs = {}
  for k, n in pairs(parts) do table.insert(vs, string.format('"%s": %d', k, n)) end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f, "versions": {%s}}\n', summary.requests, summary.duration, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, table.concat(vs, ", ")))
end
"""


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if not path:
        sys.exit(f"{name} is not installed: sudo bash scripts/install_serving_tools.sh")
    return path


def wrk(url: str, *, connections: int, seconds: float, script: Path, threads: int = 1, delay_ms: float = 0,
        on_start: threading.Event | None = None) -> dict:
    env = {**os.environ, "WRK_BODY": BODY, "WRK_DELAY_MS": f"{delay_ms:.3f}"}
    proc = subprocess.Popen([binary("wrk"), f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "5s",
                             "-s", str(script), url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    result: dict = {"pid": proc.pid}
    if on_start is not None:
        on_start.set()
    out, _ = proc.communicate()
    m = re.search(r"WRK_JSON (\{.*\})", out)
    if not m:
        raise RuntimeError(f"wrk printed no result: {out}")
    data = json.loads(m.group(1))
    data["rate"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = data["non2xx"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    return result | data


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine used so far (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def weight_apply_times(hook: HaproxyHook, url: str, names: dict[str, str], rounds: int = 20) -> dict:
    """Flip all weighted traffic between the two servers; time from sending the ``set weight`` that takes
    the old server to 0 until sequential requests only reach the new one."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)

    def served() -> str:
        conn.request("POST", "/invocations", body=BODY, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.getheader("X-Model-Version") or "none"

    applied, commands = [], []
    for i in range(rounds):
        new, old = ("canary", "stable") if i % 2 == 0 else ("stable", "canary")
        hook.set_weight(BACKEND, new, 100)
        t0 = time.perf_counter()
        hook.set_weight(BACKEND, old, 0)
        commands.append((time.perf_counter() - t0) * 1000)
        first_new, streak = None, 0
        while streak < 10:
            version = served()
            if version == names[new]:
                first_new = first_new if first_new is not None else time.perf_counter()
                streak += 1
            else:
                first_new, streak = None, 0
        applied.append((first_new - t0) * 1000)
    conn.close()
    return {"rounds": rounds, "applied_ms_median": statistics.median(applied), "applied_ms_max": max(applied),
            "set_weight_command_ms_median": statistics.median(commands)}


def haproxy_errors(exporter: str) -> float:
    total = 0.0
    for (name, labels), value in scrape(exporter).items():
        d = dict(labels)
        if d.get("proxy") == BACKEND and ((name == "haproxy_backend_http_responses_total" and d.get("code") == "5xx")
                                           or name.endswith(("connection_errors_total", "response_errors_total"))):
            total += value
    return total


class TrivialServer(Process):
    def __init__(self, workdir: Path, name: str) -> None:
        self.name = f"trivial-{name}"
        super().__init__(workdir)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.label = name

    def start(self) -> TrivialServer:
        env = {**os.environ, "TRIVIAL_NAME": self.label}
        self.spawn([sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "benchmarks"), "trivial_app:app",
                    "--port", str(self.port), "--log-level", "warning", "--no-access-log"], env)
        self.wait_until(lambda: http_ok(f"http://{self.address}/ready"), 30, "ready")
        return self


def site_for(stable: str, canary: str) -> HaproxySite:
    return HaproxySite(bind=f"127.0.0.1:{free_port()}", runtime_api=f"127.0.0.1:{free_port()}", backend=BACKEND,
                       servers=(HaproxyServer("stable", stable, 80), HaproxyServer("canary", canary, 20)),
                       exporter_bind=f"127.0.0.1:{free_port()}")


def sweep(url: str, script: Path, connections: list[int], seconds: float, threads: int = 1) -> list[dict]:
    rows = []
    for c in connections:
        r = wrk(url, connections=c, seconds=seconds, script=script, threads=threads)
        rows.append(r)
        print(f"  c={c:3d}: {r['rate']:8.0f} req/s  p50 {r['p50_us'] / 1000:6.1f} ms  p99 {r['p99_us'] / 1000:6.1f} ms  "
              f"errors {r['errors']}  {r['versions']}", flush=True)
    return rows


def product_rollout(stack: dict, t0: float, seconds: float, events: list[tuple[float, str]]) -> None:
    """The product's own rollout (``rollout/routers/haproxy.py``, what the rollout tasks call): deploy recsys/2
    to the canary slot (drained, hot-loaded through the admin API) at 20 %, shift to 50 and 100 %, promote
    (the stable slot hot-loads recsys/2, all traffic back to it); each router call timed."""
    from airflow_aiinfra.rollout.routers.haproxy import HaproxyRouter

    registry = stack["registry"]
    new = registry.label("good2")
    steps = [("deploy_canary 20 %", lambda r: r.deploy_canary(registry.uri("good2"), new, 20)),
             ("shift 50 %", lambda r: r.set_canary_weight(50)),
             ("shift 100 %", lambda r: r.set_canary_weight(100)),
             ("promote", lambda r: r.promote(registry.uri("good2"), new))]
    step_s = seconds / (len(steps) + 1)
    for i, (what, call) in enumerate(steps, start=1):
        time.sleep(max(0.0, t0 + i * step_s - time.monotonic()))
        router = HaproxyRouter(backend=BACKEND, runtime_api=stack["runtime_api"], admin_token="")
        started = time.monotonic()
        split = call(router)
        took = (time.monotonic() - started) * 1000
        events.append((round(started - t0, 1), f"{what}: {took:.1f} ms, {len(router.weight_commands)} set weight, "
                       f"canary {split.canary.weight} % ({split.canary.model_version}), stable "
                       f"{split.stable.weight} % ({split.stable.model_version})"))


def sustained(stack: dict, script: Path, rate: float, seconds: float, connections: int,
              via_router: bool = False) -> dict:
    """wrk paced to ``rate`` while a rollout runs; returns wrk's numbers, events, failures and CPU."""
    hook: HaproxyHook = stack["hook"]
    # calibrate the per-connection think time: rate = connections / (latency + delay)
    delay = connections * 1000 / rate - 2.0
    probe = wrk(stack["url"], connections=connections, seconds=5, script=script, delay_ms=delay)
    cycle_ms = connections * 1000 / probe["rate"]
    delay = max(0.0, delay - (cycle_ms - connections * 1000 / rate))
    events: list[tuple[float, str]] = []
    started = threading.Event()
    servers_before = request_counts(stack["stable"], stack["canary"])
    haproxy_before = haproxy_errors(stack["exporter"])
    pids = {"stable": stack["stable"].pid, "canary": stack["canary"].pid, "haproxy": stack["haproxy"].pid}
    cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
    busy_before, children_before = machine_busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict = {}

    def run() -> None:
        result.update(wrk(stack["url"], connections=connections, seconds=seconds, script=script, delay_ms=delay,
                          on_start=started))

    thread = threading.Thread(target=run)
    thread.start()
    started.wait()
    t0 = time.monotonic()
    if via_router:
        product_rollout(stack, t0, seconds, events)
    plan = [] if via_router else [(20, None), (5, None), (25, None), (50, "good"), (100, None), (50, "good2"), (20, None)]
    step_s = seconds / (len(plan) + 1)
    for i, (canary_weight, load_variant) in enumerate(plan, start=1):
        time.sleep(max(0.0, t0 + i * step_s - time.monotonic()))
        hook.set_weight(BACKEND, "canary", canary_weight)
        hook.set_weight(BACKEND, "stable", 100 - canary_weight)
        events.append((round(time.monotonic() - t0, 1), f"weights stable {100 - canary_weight} / canary {canary_weight}"))
        if load_variant:
            loaded = stack["client"].load(stack["registry"].uri(load_variant))
            events.append((round(time.monotonic() - t0, 1), f"canary hot-loaded {loaded.model.model_version}"))
    cpu_after = {k: cpu_seconds(p) for k, p in pids.items()}  # before wrk exits and the servers go idle
    busy_after = machine_busy_seconds()
    thread.join()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    served = count_delta(servers_before, request_counts(stack["stable"], stack["canary"]))
    result["events"] = events
    result["server_non2xx"] = sum(v for (_, _, status), v in served.items() if status != "200")
    result["server_requests"] = sum(served.values())
    result["haproxy_errors"] = haproxy_errors(stack["exporter"]) - haproxy_before
    elapsed = time.monotonic() - t0
    result["cpu_percent"] = {k: round(100 * (cpu_after[k] - cpu_before[k]) / elapsed, 1) for k in pids}
    result["cpu_percent"]["wrk"] = round(100 * (children_after.ru_utime + children_after.ru_stime
                                                - children_before.ru_utime - children_before.ru_stime) / seconds, 1)
    ours = sum(result["cpu_percent"].values())
    result["cpu_percent"]["everything_else_on_the_machine"] = round(100 * (busy_after - busy_before) / elapsed - ours, 1)
    by_slot = {slot: sum(v for (s, _, _), v in served.items() if s == slot) for slot in ("stable", "canary")}
    result["requests_by_slot"] = by_slot
    result["cpu_ms_per_request"] = {slot: round(1000 * (cpu_after[slot] - cpu_before[slot]) / n, 3)
                                    for slot, n in by_slot.items() if n}
    result["delay_ms"] = round(delay, 2)
    return result


def report(run: dict) -> None:
    print(f"  {run['rate']:.0f} req/s for {run['duration_us'] / 1e6:.0f} s, {run['requests']} requests, "
          f"wrk errors {run['errors']}, server non-2xx {run['server_non2xx']}, HAProxy errors "
          f"{run['haproxy_errors']}; p50 {run['p50_us'] / 1000:.1f} ms, p99 {run['p99_us'] / 1000:.1f} ms, "
          f"p99.9 {run['p999_us'] / 1000:.1f} ms, max {run['max_us'] / 1000:.1f} ms; CPU % {run['cpu_percent']}; "
          f"CPU ms per request {run['cpu_ms_per_request']}",
          flush=True)
    for t, event in run["events"]:
        print(f"    t={t:5.1f}s {event}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=850)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--connections", type=int, default=16, help="connections of the sustained run")
    parser.add_argument("--sweep", default="2,4,8,16,32,64")
    parser.add_argument("--sweep-seconds", type=float, default=10)
    parser.add_argument("--work", type=Path, default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="write all numbers as JSON here")
    parser.add_argument("--rollout-only", action="store_true",
                        help="only the sustained run, through the product's HaproxyRouter (deploy, steps, promote)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    script = work / "bench.lua"
    work.mkdir(parents=True, exist_ok=True)
    script.write_text(WRK_LUA)
    print(f"work directory {work}; load average before: {os.getloadavg()}", flush=True)
    registry = load_registry(work / "registry") or build_registry(work / "registry")
    processes: list[Process] = []
    results: dict = {"load_average_before": os.getloadavg(), "rate_target": args.rate}
    try:
        servers = {slot: ModelServer(work / slot, ServerConfig(slot=slot, port=free_port(), model_uri=registry.uri(v),
                                                               tracking_uri=registry.tracking_uri, sample_rate=0.0))
                   for slot, v in (("stable", "good"), ("canary", "good2"))}
        for s in servers.values():
            processes.append(s.start())
        for s in servers.values():
            s.wait_ready()
        site = site_for(servers["stable"].address, servers["canary"].address)
        haproxy = Haproxy(work / "haproxy", site, binary("haproxy")).start()
        processes.append(haproxy)
        url = haproxy.url + "/invocations"
        stack = {"url": url, "hook": haproxy.hook, "runtime_api": site.runtime_api, "stable": servers["stable"], "canary": servers["canary"],
                 "haproxy": haproxy, "exporter": f"http://{site.exporter_bind}/metrics", "registry": registry,
                 "client": ModelServerClient(servers["canary"].url, timeout=60)}
        print("== warm-up", flush=True)
        wrk(url, connections=8, seconds=5, script=script)

        if args.rollout_only:
            print("== time from set weight to the router applying it (idle, sequential probes)", flush=True)
            names = {"stable": registry.label("good"), "canary": registry.label("good2")}
            results["weight_apply"] = weight_apply_times(haproxy.hook, haproxy.url, names)
            print(f"  {results['weight_apply']}", flush=True)
            stack["client"].load(registry.uri("good"))  # the canary slot on the old version, out of traffic
            haproxy.hook.set_weight(BACKEND, "stable", 100)
            haproxy.hook.set_weight(BACKEND, "canary", 0)
            haproxy.hook.maint(BACKEND, "canary")
            print(f"== sustained {args.duration:.0f} s at {args.rate:.0f} req/s through the product's rollout",
                  flush=True)
            results["sustained"] = run = sustained(stack, script, args.rate, args.duration, args.connections,
                                                   via_router=True)
            report(run)
            if args.out:
                args.out.write_text(json.dumps(results, indent=2, default=str))
            return
        print("== time from set weight to the router applying it (idle, sequential probes)", flush=True)
        names = {"stable": registry.label("good"), "canary": registry.label("good2")}
        results["weight_apply"] = weight_apply_times(haproxy.hook, haproxy.url, names)
        haproxy.hook.set_weight(BACKEND, "stable", 80)
        haproxy.hook.set_weight(BACKEND, "canary", 20)
        print(f"  {results['weight_apply']}", flush=True)

        print("== closed-loop sweep, model servers at 80/20", flush=True)
        connections = [int(c) for c in args.sweep.split(",")]
        results["sweep"] = sweep(url, script, connections, args.sweep_seconds)
        ok = [r for r in results["sweep"] if r["errors"] == 0]
        best = max(ok, key=lambda r: r["rate"]) if ok else None
        results["highest_zero_failure"] = best and {"rate": best["rate"], "p99_ms": best["p99_us"] / 1000}

        print(f"== sustained {args.duration:.0f} s at {args.rate:.0f} req/s during a rollout", flush=True)
        results["sustained"] = run = sustained(stack, script, args.rate, args.duration, args.connections)
        report(run)

        print("== reference: trivial FastAPI apps behind the same HAProxy config", flush=True)
        trivial = [TrivialServer(work / f"trivial-{n}", n).start() for n in ("stable", "canary")]
        processes += trivial
        ref_haproxy = Haproxy(work / "haproxy-ref", site_for(trivial[0].address, trivial[1].address),
                              binary("haproxy")).start()
        processes.append(ref_haproxy)
        results["reference"] = sweep(ref_haproxy.url + "/invocations", script, [16, 64], args.sweep_seconds, threads=2)
        results["load_average_after"] = os.getloadavg()
    finally:
        for p in reversed(processes):
            p.stop()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
        print(f"results: {args.out}")


if __name__ == "__main__":
    main()
