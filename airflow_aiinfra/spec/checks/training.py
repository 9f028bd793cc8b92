"""``training_pipeline``: unique stage names, known dependencies, no cycles, resources that fit."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.contract import RESERVED_ENV
from airflow_aiinfra.spec import quantities
from airflow_aiinfra.spec.checks import distributed
from airflow_aiinfra.spec.checks.common import Issue, find_cycle
from airflow_aiinfra.spec.model.defaults import Defaults
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.model.training import Stage
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.secrets import secret_env_problem
from airflow_aiinfra.spec.suggest import Suggestions
from airflow_aiinfra.spec.types import shown
from airflow_aiinfra.spec.yaml_loader import Path

# Pod annotations that switch a container's AppArmor or seccomp confinement off: under the restricted and
# baseline profiles, security is relaxed only through `security_context.profile`, never by an annotation.
_UNCONFINING = ("container.apparmor.security.beta.kubernetes.io/", "seccomp.security.alpha.kubernetes.io/pod",
                "container.seccomp.security.alpha.kubernetes.io/")


def issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
    tp = spec.training_pipeline
    if tp is None:
        return
    base: Path = ("training_pipeline", "stages")
    names: dict[str, int] = {}
    pods: dict[str, int] = {}  # pod names: '_' becomes '-'
    for i, stage in enumerate(tp.stages):
        if stage.name in names:
            yield (*base, i, "name"), (
                f"duplicate stage name {stage.name!r} (also stages[{names[stage.name]}]); stage names must be unique"
            )
        elif stage.name.replace("_", "-") in pods:
            other = tp.stages[pods[stage.name.replace("_", "-")]].name
            yield (*base, i, "name"), (
                f"stage names {other!r} and {stage.name!r} differ only by '_' and '-': they would share a pod name "
                "and look alike in the UI; rename one"
            )
        names.setdefault(stage.name, i)
        pods.setdefault(stage.name.replace("_", "-"), i)
    known = Suggestions(names)
    for i, stage in enumerate(tp.stages):
        for j, dep in enumerate(stage.depends_on):
            if dep not in names:
                yield (*base, i, "depends_on", j), f"unknown stage {shown(dep)}{known.hint(dep)}"
            elif dep == stage.name:
                yield (*base, i, "depends_on", j), f"stage {dep!r} cannot depend on itself"
        yield from _resources(stage, spec.defaults, (*base, i, "resources"))
        yield from _volumes(stage, (*base, i))
        yield from _env(stage, (*base, i))
        yield from _annotations(stage, spec.defaults, (*base, i))
    graph = {s.name: [d for d in s.depends_on if d in names and d != s.name] for s in tp.stages}
    cycle = find_cycle(graph)
    if cycle:
        # report at the first stage of the cycle; graph edges point at dependencies, print data flow
        flow = list(reversed(cycle))
        yield (*base, names[cycle[0]], "depends_on"), "dependency cycle: " + " → ".join(flow)
    for i, stage in enumerate(tp.stages):  # distributed / Spark stages, and the env names the product sets
        yield from distributed.stage_issues(stage, (*base, i))


def _resources(stage: Stage, defaults: Defaults, path: Path) -> Iterator[Issue]:
    res = stage.resources
    for key in ("cpu", "memory", "ephemeral_storage"):
        req = getattr(res.requests, key, None) if res.requests else None
        lim = getattr(res.limits, key, None) if res.limits else None
        req = req or getattr(res, key, None)
        if req and lim and quantities.to_number(req) > quantities.to_number(lim):
            yield (*path, "limits", key), f"limit {lim!r} is below the request {req!r}; raise the limit"
    # GPU pools count the whole job (Stage.pool_slots): nodes × GPUs per node, or the Spark executors' GPUs
    pool = stage.pool_name(defaults.gpu_pool)
    slots = defaults.pool_slots(pool)
    if stage.job_gpus and slots is not None and stage.pool_slots > slots:
        where, what, fix = (*path, "gpu"), "", "lower gpu"
        if (d := stage.distributed) is not None:
            where, what, fix = (*path[:-1], "distributed", "nodes"), f" ({d.nodes} nodes × {res.gpu} GPUs)", (
                "lower nodes or gpu,")
        elif (sp := stage.spark) is not None:
            where, fix = (*path[:-1], "spark", "executors"), "use fewer executors or GPUs,"
            what = f" ({sp.executors.most} executors × {sp.executor.gpu} GPUs" + (
                f" + {sp.driver.gpu} for the driver)" if sp.driver.gpu else ")")
        yield where, (
            f"asks for {stage.job_gpus} GPUs{what} but pool {pool!r} has only {slots} slots "
            f"(defaults.gpu_pool_slots); it would stay queued forever: {fix} or raise gpu_pool_slots"
        )
    if res.gpu == 0 and res.gpu_vendor:
        yield (*path, "gpu_vendor"), "gpu_vendor is set but gpu is 0; set gpu or remove gpu_vendor"


def _volumes(stage: Stage, path: Path) -> Iterator[Issue]:
    """Kubernetes refuses two volumes of one name or two mounts at one path (``shm_size`` adds ``dshm``)."""
    names: dict[str, int] = {}
    mounts: dict[str, int] = {}
    for j, volume in enumerate(stage.volumes):
        if volume.name in names or (volume.name == "dshm" and stage.resources.shm_size):
            yield (*path, "volumes", j, "name"), (
                f"volume name {volume.name!r} is already used"
                + (" by resources.shm_size (/dev/shm)" if volume.name == "dshm" and volume.name not in names
                   else f" by volumes[{names.get(volume.name)}]") + "; rename it")
        if volume.mount_path.rstrip("/") in mounts or (volume.mount_path.rstrip("/") == "/dev/shm"
                                                       and stage.resources.shm_size):
            yield (*path, "volumes", j, "mount_path"), f"two volumes are mounted at {volume.mount_path!r}"
        names.setdefault(volume.name, j)
        mounts.setdefault(volume.mount_path.rstrip("/"), j)


def _env(stage: Stage, path: Path) -> Iterator[Issue]:
    for key, value in stage.env.items():
        if key in RESERVED_ENV:
            yield (*path, "env", key), (
                f"{key} is set by {RESERVED_ENV[key]}; a stage may not set it: remove it from env")
        problem = secret_env_problem(key, value)
        if problem:
            yield (*path, "env", key), problem


def _annotations(stage: Stage, defaults: Defaults, path: Path) -> Iterator[Issue]:
    profile = (stage.security_context or defaults.security_context).profile
    if profile == "privileged":
        return
    for key, value in stage.annotations.items():
        if key.startswith(_UNCONFINING) and value.strip().lower() == "unconfined":
            yield (*path, "annotations", key), (
                f"annotation {key} = unconfined switches confinement off, which the {profile} profile does not "
                "allow; relax security only with security_context.profile: privileged")
