"""Parse-time benchmark: our factory vs the same DAGs written by hand vs astronomer's dag-factory.

Run by hand (not a test; ``make bench``)::

    .venv/bin/python benchmarks/parse.py                      # the full table (~15-25 min on 2 cores)
    .venv/bin/python benchmarks/parse.py --sizes 1,10 --stages 5 --no-shards   # a quick look

Every measurement is a fresh interpreter that first imports the *floor* (``airflow``, ``DagBag``
and the cncf-kubernetes pod operator: what Airflow's dag-processor has imported before it forks
for a file), then times ``DagBag(dag_folder=...)`` on the generated files (so each tool's own
imports count against it), then records ``ru_maxrss`` and the JSON size of a few DAGs serialized
the way the dag-processor stores them (``DagSerialization.to_dict`` + ``json.dumps(sort_keys=True)``).

Shapes: N specs (one DAG each) of S stages; every stage is a pod with cpu/memory requests and
limits, every fifth one a GPU (toleration, pool), each stage depends on the previous one and,
for odd stages, on the one before that. The same DAGs are written three ways:

* ours: ``specs/bench_<i>.yaml`` + the repo's ``dags/aiinfra_dags.py`` (one parse unit);
* hand: ``dags/hand_<i>.py``, one file per DAG, ``KubernetesPodOperator`` with
  ``V1ResourceRequirements``/``V1Toleration``/security contexts written out literally, the same
  ``doc_md`` (the spec text) as ours; files are byte-compiled first, as a running processor has them;
* dag-factory: ``configs/bench_<i>.yml`` + one loader calling ``load_yaml_dags`` (its own
  ``doc_md``: the YAML it renders), run with the interpreter given by ``--dagfactory-python``
  (a separate venv with the same Airflow and provider versions).

``--shards`` also times 100 x 50 as one parse unit and split by ``aiinfra shards`` into 2 and 4.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@BENCH@@ "
SAMPLE_SERIALIZED = 3  # DAGs serialized per measurement (size is the same for every generated DAG)
TARGETS = {5: 0.020, 50: 0.060}  # seconds per DAG above the floor, for a parse unit of one spec
IMPORT_TIMEOUT = 30.0  # [core] dagbag_import_timeout default

# ---------------------------------------------------------------------------------------------
# The DAG shape, shared by the three generators


def stages(count: int) -> list[dict]:
    out = []
    for j in range(count):
        gpu = 1 if j % 5 == 4 else 0
        deps = [f"stage_{j - 1:02d}"] if j else []
        if j >= 2 and j % 2:
            deps.append(f"stage_{j - 2:02d}")
        out.append(
            {
                "name": f"stage_{j:02d}",
                "image": f"registry.example.com/ml/step-{j % 7}:1.{j % 3}",
                "command": ["python", "-m", f"pipeline.step_{j}", "--date", "{{ ds }}"],
                "env": {"DATA_DIR": "/data/{{ ds_nodash }}", "STEP": str(j)},
                "cpu": str(1 + j % 4),
                "memory": f"{2 * (1 + j % 4)}Gi",
                "gpu": gpu,
                "deps": deps,
            }
        )
    return out


def spec_yaml(i: int, n_stages: int) -> str:
    lines = [
        "spec_version: 1",
        f"name: bench_{i}",
        f"description: Benchmark system {i}",
        "owner: ml-platform",
        "tags: [bench]",
        "schedule: '@daily'",
        "start_date: '2024-01-01'",
        "defaults:",
        "  namespace: ml-training",
        "  labels: {team: bench}",
        "training_pipeline:",
        "  stages:",
    ]
    for s in stages(n_stages):
        lines += [
            f"    - name: {s['name']}",
            f"      image: {s['image']}",
            f"      command: {json.dumps(s['command'])}",
            f"      env: {json.dumps(s['env'])}",
            f"      resources: {{cpu: '{s['cpu']}', memory: {s['memory']}, gpu: {s['gpu']}}}",
        ]
        if s["deps"]:
            lines.append(f"      depends_on: {json.dumps(s['deps'])}")
    return "\n".join(lines) + "\n"


def _pod_parts(s: dict, spec_name: str) -> dict:
    """What our factory gives each stage's pod, so the other two build the same operators."""
    requests = {"cpu": s["cpu"], "memory": s["memory"]}
    tolerations = []
    if s["gpu"]:
        requests["nvidia.com/gpu"] = str(s["gpu"])
        tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    labels = {"team": "bench", "aiinfra/spec": spec_name, "aiinfra/stage": s["name"]}
    return {"requests": requests, "tolerations": tolerations, "labels": labels}


def hand_written(i: int, n_stages: int, doc_md: str) -> str:
    """One DAG written the way a person writes it: literal operators, no loops."""
    name = f"bench_{i}"
    out = [
        "from datetime import timedelta",
        "",
        "import pendulum",
        "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
        "from airflow.sdk import DAG, CronDataIntervalTimetable, TaskGroup",
        "from kubernetes.client import models as k8s",
        "",
        f"DOC = {doc_md!r}",
        "",
        "with DAG(",
        f"    dag_id={name + '__pipeline'!r},",
        f"    description='Benchmark system {i}',",
        "    schedule=CronDataIntervalTimetable('0 0 * * *', timezone='UTC'),",
        "    start_date=pendulum.datetime(2024, 1, 1, tz='UTC'),",
        "    catchup=False,",
        "    max_active_runs=1,",
        "    tags=['aiinfra', 'bench'],",
        "    doc_md=DOC,",
        "    default_args={'owner': 'ml-platform'},",
        ") as dag, TaskGroup('training'):",
    ]
    for s in stages(n_stages):
        p = _pod_parts(s, name)
        tol = "".join(
            f"k8s.V1Toleration(key={t['key']!r}, operator={t['operator']!r}, effect={t['effect']!r}), "
            for t in p["tolerations"]
        )
        pool = "    pool='aiinfra_gpu',\n" if s["gpu"] else ""
        out.append(
            textwrap.indent(
                f"""{s["name"]} = KubernetesPodOperator(
    task_id={s["name"]!r},
    name={s["name"].replace("_", "-")!r},
    image={s["image"]!r},
    cmds={s["command"]!r},
    env_vars={s["env"]!r},
    container_resources=k8s.V1ResourceRequirements(requests={p["requests"]!r}, limits={p["requests"]!r}),
    tolerations=[{tol}],
    node_selector={{}},
    namespace='ml-training',
    labels={p["labels"]!r},
    security_context=k8s.V1PodSecurityContext(
        run_as_non_root=True, run_as_user=1000, seccomp_profile=k8s.V1SeccompProfile(type='RuntimeDefault')
    ),
    container_security_context=k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        capabilities=k8s.V1Capabilities(drop=['ALL']),
        run_as_non_root=True,
        seccomp_profile=k8s.V1SeccompProfile(type='RuntimeDefault'),
    ),
    retries=2,
    retry_delay=timedelta(minutes=1),
    retry_exponential_backoff=2.0,
    max_retry_delay=timedelta(minutes=30),
    execution_timeout=timedelta(hours=6),
{pool}    pool_slots=1,
    on_finish_action='delete_pod',
    get_logs=True,
    startup_timeout_seconds=600,
)""",
                "    ",
            )
        )
    for s in stages(n_stages):
        for d in s["deps"]:
            out.append(f"{d} >> {s['name']}")
    return "\n".join(out) + "\n"


def dagfactory_yaml(i: int, n_stages: int) -> str:
    """The same DAG for dag-factory: ``__type__`` builds the kubernetes models and timedeltas."""
    import yaml

    name = f"bench_{i}"
    td = "datetime.timedelta"
    tasks = []
    for s in stages(n_stages):
        p = _pod_parts(s, name)
        task = {
            "task_id": s["name"],
            "operator": "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator",
            "task_group_name": "training",
            "name": s["name"].replace("_", "-"),
            "image": s["image"],
            "cmds": s["command"],
            "env_vars": s["env"],
            "container_resources": {
                "__type__": "kubernetes.client.models.V1ResourceRequirements",
                "requests": p["requests"],
                "limits": p["requests"],
            },
            "tolerations": [
                {"__type__": "kubernetes.client.models.V1Toleration", **t} for t in p["tolerations"]
            ],
            "node_selector": {},
            "namespace": "ml-training",
            "labels": p["labels"],
            "security_context": {
                "__type__": "kubernetes.client.models.V1PodSecurityContext",
                "run_as_non_root": True,
                "run_as_user": 1000,
                "seccomp_profile": {
                    "__type__": "kubernetes.client.models.V1SeccompProfile",
                    "type": "RuntimeDefault",
                },
            },
            "container_security_context": {
                "__type__": "kubernetes.client.models.V1SecurityContext",
                "allow_privilege_escalation": False,
                "capabilities": {"__type__": "kubernetes.client.models.V1Capabilities", "drop": ["ALL"]},
                "run_as_non_root": True,
                "seccomp_profile": {
                    "__type__": "kubernetes.client.models.V1SeccompProfile",
                    "type": "RuntimeDefault",
                },
            },
            "retries": 2,
            "retry_delay": {"__type__": td, "minutes": 1},
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": {"__type__": td, "minutes": 30},
            "execution_timeout": {"__type__": td, "hours": 6},
            "pool_slots": 1,
            "on_finish_action": "delete_pod",
            "get_logs": True,
            "startup_timeout_seconds": 600,
        }
        if s["gpu"]:
            task["pool"] = "aiinfra_gpu"
        if s["deps"]:
            task["dependencies"] = s["deps"]
        tasks.append(task)
    dag = {
        "default_args": {"owner": "ml-platform", "start_date": "2024-01-01"},
        "description": f"Benchmark system {i}",
        "schedule": {
            "__type__": "airflow.timetables.interval.CronDataIntervalTimetable",
            "cron": "0 0 * * *",
            "timezone": "UTC",
        },
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["aiinfra", "bench"],
        "task_groups": [{"group_name": "training"}],
        "tasks": tasks,
    }
    return yaml.safe_dump({f"{name}__pipeline": dag}, sort_keys=False)


DAGFACTORY_LOADER = """\
\"\"\"Airflow DAGs from dag-factory YAML (the words airflow and dag let safe_mode import this file).\"\"\"

from pathlib import Path

from dagfactory import load_yaml_dags

load_yaml_dags(globals_dict=globals(), dags_folder=str(Path(__file__).resolve().parent.parent / "configs"))
"""

# ---------------------------------------------------------------------------------------------
# Case layout


def write_case(base: Path, kind: str, n: int, n_stages: int) -> Path:
    """A folder with dags/ (and specs/ or configs/); returns what DagBag should load."""
    case = base / f"{kind}_{n}x{n_stages}"
    if case.exists():
        shutil.rmtree(case)
    dags = case / "dags"
    dags.mkdir(parents=True)
    if kind in ("ours", "hand"):
        specs = case / "specs"
        specs.mkdir()
        for i in range(n):
            text = spec_yaml(i, n_stages)
            (specs / f"bench_{i}.yaml").write_text(text)
            if kind == "hand":
                doc = f"**Spec** `specs/bench_{i}.yaml`\n\n```yaml\n{text}\n```\n"
                (dags / f"hand_{i}.py").write_text(hand_written(i, n_stages, doc))
        if kind == "ours":
            shutil.copy(ROOT / "dags" / "aiinfra_dags.py", dags / "aiinfra_dags.py")
        else:
            shutil.rmtree(specs)  # the hand-written DAGs carry the text themselves
            compileall.compile_dir(dags, quiet=1)
    else:
        configs = case / "configs"
        configs.mkdir()
        for i in range(n):
            (configs / f"bench_{i}.yml").write_text(dagfactory_yaml(i, n_stages))
        (dags / "dagfactory_dags.py").write_text(DAGFACTORY_LOADER)
    return dags


def write_shards(base: Path, n: int, n_stages: int, count: int) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from airflow_aiinfra.wiring.shards import write_shard_files

    case = base / f"shards{count}_{n}x{n_stages}"
    if case.exists():
        shutil.rmtree(case)
    specs = case / "specs"
    specs.mkdir(parents=True)
    for i in range(n):
        (specs / f"bench_{i}.yaml").write_text(spec_yaml(i, n_stages))
    return write_shard_files(case / "dags", count)


# ---------------------------------------------------------------------------------------------
# One measurement = one fresh interpreter


def child(target: str | None) -> None:
    import resource

    t0, c0 = time.perf_counter(), time.process_time()
    import airflow  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator  # noqa: F401

    floor_s, floor_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    floor_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out: dict = {"floor_s": floor_s, "floor_cpu_s": floor_cpu_s, "floor_rss_kib": floor_rss}
    if target:
        t1, c1 = time.perf_counter(), time.process_time()
        bag = DagBag(dag_folder=target)
        out["parse_wall_s"] = time.perf_counter() - t1
        out["parse_s"] = time.process_time() - c1  # CPU time: robust to other load on a shared machine
        out["rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["dags"] = len(bag.dags)
        out["tasks"] = sum(len(d.tasks) for d in bag.dags.values())
        out["errors"] = {k: v[-300:] for k, v in bag.import_errors.items()}
        from airflow.serialization.serialized_objects import DagSerialization

        sizes, times = [], []
        for dag_id in sorted(bag.dags)[:SAMPLE_SERIALIZED]:
            t2 = time.perf_counter()
            data = json.dumps(DagSerialization.to_dict(bag.dags[dag_id]), sort_keys=True).encode()
            times.append(time.perf_counter() - t2)
            sizes.append(len(data))
        out["ser_bytes"] = statistics.mean(sizes) if sizes else 0
        out["ser_s"] = statistics.mean(times) if times else 0
    print(MARK + json.dumps(out), flush=True)


def measure(python: str, target: Path | None, home: Path, extra_env: dict[str, str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="0",  # measure past 30 s; flagged in the table instead
        AIRFLOW__CORE__DAGS_FOLDER=str(target or home),
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
        AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY="False",
        DO_NOT_TRACK="True",
        SCARF_NO_ANALYTICS="True",
        PYTHONWARNINGS="ignore",
    )
    if target is not None:
        case = target.parent if target.is_dir() else target.parent.parent
        env["AIRFLOW__AIINFRA__SPECS_FOLDER"] = str(case / "specs")
        cwd = case
    else:
        cwd = home
    env.update(extra_env or {})
    args = [python, str(Path(__file__).resolve()), "--child"] + ([str(target)] if target else [])
    t = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"measurement of {target} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(line[len(MARK) :])
    result["wall_s"] = wall
    return result


def median_of(runs: list[dict]) -> dict:
    out = dict(runs[-1])
    for key in (
        "floor_s",
        "floor_cpu_s",
        "parse_s",
        "parse_wall_s",
        "wall_s",
        "rss_kib",
        "floor_rss_kib",
        "ser_s",
    ):
        if key in out:
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    return out


# ---------------------------------------------------------------------------------------------
# Report


def _ms(s: float) -> str:
    return f"{s * 1000:.1f}"


def _mib(r: dict) -> str:
    return f"{r['rss_kib'] / 1024:.0f} (+{(r['rss_kib'] - r['floor_rss_kib']) / 1024:.0f})"


def report(results: dict) -> str:
    lines = []
    floors = results["floors"]
    for name, f in floors.items():
        lines.append(
            f"floor ({name}): import airflow + DagBag + KPO = {f['floor_cpu_s']:.2f} s CPU "
            f"({f['floor_s']:.2f} s wall), "
            f"RSS {f['floor_rss_kib'] / 1024:.0f} MiB, process wall {f['wall_s']:.2f} s"
        )
    lines.append("")
    lines.append(
        "| DAGs x stages | tool | parse CPU s (above floor) | wall s | ms/DAG | target | vs hand | peak RSS MiB (+ above floor) "
        "| serialized KiB/DAG | vs hand | serialize ms/DAG | errors |"
    )
    lines.append("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for key, by_tool in results["cases"].items():
        n, s = map(int, key.split("x"))
        hand = by_tool.get("hand")
        for tool, r in by_tool.items():
            if "skipped" in r:
                lines.append(f"| {key} | {tool} | skipped: {r['skipped']} | | | | | | | | | |")
                continue
            per = r["parse_s"] / n
            target = ""
            if tool.startswith("ours") and s in TARGETS and n == 1:
                target = f"{'ok' if per <= TARGETS[s] else 'MISS'} (<= {TARGETS[s] * 1000:.0f})"
            vs = f"{r['parse_s'] / hand['parse_s']:.2f}x" if hand and "parse_s" in hand else ""
            vs_ser = f"{r['ser_bytes'] / hand['ser_bytes']:.2f}x" if hand and hand.get("ser_bytes") else ""
            errs = (
                f"{len(r['errors'])} import errors"
                if r["errors"]
                else ("" if r["dags"] == n else "DAGS MISSING")
            )
            if r["parse_wall_s"] > IMPORT_TIMEOUT:
                errs = (errs + "; " if errs else "") + f"> {IMPORT_TIMEOUT:.0f} s import timeout"
            lines.append(
                f"| {key} | {tool} | {r['parse_s']:.2f} | {r['parse_wall_s']:.2f} | {_ms(per)} | {target} | {vs} | {_mib(r)} "
                f"| {r['ser_bytes'] / 1024:.1f} | {vs_ser} | {_ms(r['ser_s'])} | {errs} |"
            )
    if results.get("shards"):
        lines.append("")
        lines.append(
            "| 100 x 50 split into | unit | DAGs in unit | parse CPU s (above floor) | wall s | peak RSS MiB |"
        )
        lines.append("|---|---|---:|---:|---:|---:|")
        for count, units in results["shards"].items():
            for u in units:
                lines.append(
                    f"| {count} | {u['unit']} | {u['dags']} | {u['parse_s']:.2f} | {u['parse_wall_s']:.2f} | {_mib(u)} |"
                )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs="?", const="", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1,10,100,500", help="numbers of specs (DAGs)")
    parser.add_argument("--stages", default="5,50", help="stages per spec")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per case (median is shown)")
    parser.add_argument("--tools", default="ours,ours+preload,hand,dagfactory")
    parser.add_argument("--dagfactory-python", default="/tmp/dagfactory-venv/bin/python")
    parser.add_argument(
        "--dagfactory-max-tasks",
        type=int,
        default=5000,
        help="skip dag-factory cases above this many tasks (500 x 50 takes ~7 min with it)",
    )
    parser.add_argument("--no-shards", action="store_true", help="skip the 100 x 50 sharding measurement")
    parser.add_argument("--workdir", help="keep generated files here (default: a temporary folder)")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child or None)
        return 0

    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="aiinfra-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    home = base / "airflow_home"
    home.mkdir(exist_ok=True)
    # "ours+preload": the same files, in a deployment whose airflow_local_settings imports
    # airflow_aiinfra.preload, which Airflow imports in every process (the dag-processor's parent included)
    preload_home = base / "airflow_home_preload"
    (preload_home / "config").mkdir(parents=True, exist_ok=True)
    (preload_home / "config" / "airflow_local_settings.py").write_text("import airflow_aiinfra.preload  # noqa\n")
    ours_py = sys.executable
    tools = args.tools.split(",")
    df_py = args.dagfactory_python if "dagfactory" in tools else None
    if df_py and not Path(df_py).exists():
        print(f"dag-factory interpreter {df_py} not found: dag-factory cases skipped", file=sys.stderr)
        df_py = None
    pythons = {"ours/hand venv": ours_py, **({"dag-factory venv": df_py} if df_py else {})}

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    results: dict = {"floors": {}, "cases": {}, "shards": {}}
    for name, py in pythons.items():
        results["floors"][name] = median_of([measure(py, None, home) for _ in range(args.repeat)])
        log(f"floor {name}: {results['floors'][name]['floor_s']:.2f} s")
    for s in map(int, args.stages.split(",")):
        for n in map(int, args.sizes.split(",")):
            key = f"{n}x{s}"
            results["cases"][key] = {}
            for tool in tools:
                if tool == "dagfactory" and (df_py is None or n * s > args.dagfactory_max_tasks):
                    why = "not installed" if df_py is None else f"> {args.dagfactory_max_tasks} tasks"
                    results["cases"][key][tool] = {"skipped": why}
                    continue
                target = write_case(base, "ours" if tool == "ours+preload" else tool, n, s)
                py = df_py if tool == "dagfactory" else ours_py
                h = preload_home if tool == "ours+preload" else home
                r = median_of([measure(py, target, h) for _ in range(args.repeat)])
                results["cases"][key][tool] = r
                log(f"{key} {tool}: {r['parse_s']:.2f} s, {r['dags']} DAGs, {len(r['errors'])} errors")
    if not args.no_shards:
        for count in (1, 2, 4):
            units = []
            for f in write_shards(base, 100, 50, count):
                r = median_of([measure(ours_py, f, home) for _ in range(args.repeat)])
                r["unit"] = f.name
                units.append(r)
                log(f"shards {count} {f.name}: {r['parse_s']:.2f} s, {r['dags']} DAGs")
            results["shards"][str(count)] = units
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(report(results))
    if not args.workdir:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
