"""Cross-field checks that pydantic's per-field validation cannot express.

Each check yields ``(path, message)``; :mod:`airflow_aiinfra.spec.load` turns paths into
file positions. Every message names the bad value and, where one is likely, the fix.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Iterator
from typing import Any

from airflow_aiinfra.spec import quantities
from airflow_aiinfra.spec.model import Spec
from airflow_aiinfra.spec.quality_checks import quality_issues
from airflow_aiinfra.spec.routing import parse_condition
from airflow_aiinfra.spec.yaml_loader import Path

CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
SPECIAL_SCHEDULES = {"@once", "@continuous"}

Issue = tuple[Path, str]


def did_you_mean(value: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_schedule(schedule: str | None, path: Path) -> Iterator[Issue]:
    if schedule is None or schedule in CRON_PRESETS or schedule in SPECIAL_SCHEDULES:
        return
    from croniter import croniter  # small; Airflow needs it anyway

    if not croniter.is_valid(schedule):
        presets = sorted(CRON_PRESETS) + sorted(SPECIAL_SCHEDULES)
        yield path, (
            f"{schedule!r} is not a cron expression or preset{did_you_mean(schedule, presets)}"
            " (e.g. '0 3 * * *', '@daily', or null for manual runs)"
        )


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def _training(spec: Spec) -> Iterator[Issue]:
    tp = spec.training_pipeline
    if tp is None:
        return
    base: Path = ("training_pipeline", "stages")
    names: dict[str, int] = {}
    for i, stage in enumerate(tp.stages):
        if stage.name in names:
            yield (*base, i, "name"), (
                f"duplicate stage name {stage.name!r} (also stages[{names[stage.name]}]); stage names must be unique"
            )
        names.setdefault(stage.name, i)
    for i, stage in enumerate(tp.stages):
        for j, dep in enumerate(stage.depends_on):
            if dep not in names:
                yield (*base, i, "depends_on", j), f"unknown stage {dep!r}{did_you_mean(dep, set(names))}"
            elif dep == stage.name:
                yield (*base, i, "depends_on", j), f"stage {dep!r} cannot depend on itself"
        yield from _resources(stage, spec, (*base, i, "resources"))
    graph = {s.name: [d for d in s.depends_on if d in names and d != s.name] for s in tp.stages}
    cycle = _find_cycle(graph)
    if cycle:
        # report at the first stage of the cycle; graph edges point at dependencies, print data flow
        flow = list(reversed(cycle))
        first = names[cycle[0]]
        yield (*base, first, "depends_on"), "dependency cycle: " + " → ".join(flow)


def _resources(stage: Any, spec: Spec, path: Path) -> Iterator[Issue]:
    res = stage.resources
    for key in ("cpu", "memory", "ephemeral_storage"):
        req = getattr(res.requests, key, None) if res.requests else None
        lim = getattr(res.limits, key, None) if res.limits else None
        req = req or getattr(res, key, None)
        if req and lim and quantities.to_number(req) > quantities.to_number(lim):
            yield (*path, "limits", key), f"limit {lim!r} is below the request {req!r}; raise the limit"
    slots = spec.defaults.gpu_pool_slots
    if res.gpu and slots is not None and res.gpu > slots and (stage.pool or spec.defaults.gpu_pool):
        yield (*path, "gpu"), (
            f"asks for {res.gpu} GPUs but pool {stage.pool or spec.defaults.gpu_pool!r} has only {slots} slots "
            "(defaults.gpu_pool_slots); it would stay queued forever: lower gpu or raise gpu_pool_slots"
        )
    if res.gpu == 0 and res.gpu_vendor:
        yield (*path, "gpu_vendor"), "gpu_vendor is set but gpu is 0; set gpu or remove gpu_vendor"


def _quality(spec: Spec) -> Iterator[Issue]:
    dq = spec.data_quality
    if dq is None:
        return
    stages = {s.name for s in spec.training_pipeline.stages} if spec.training_pipeline else set()
    seen: set[str] = set()
    for i, gate in enumerate(dq.gates):
        if gate.name in seen:
            yield ("data_quality", "gates", i, "name"), f"duplicate gate name {gate.name!r}"
        seen.add(gate.name)
        for key in ("before", "after"):
            for j, name in enumerate(getattr(gate, key)):
                if name not in stages:
                    yield ("data_quality", "gates", i, key, j), f"unknown stage {name!r}{did_you_mean(name, stages)}"
        overlap = set(gate.before) & set(gate.after)
        if overlap:
            yield ("data_quality", "gates", i, "after"), (
                f"stage(s) {sorted(overlap)} are both before and after the gate; that is a cycle"
            )
    yield from quality_issues(spec)


def _serving(spec: Spec) -> Iterator[Issue]:
    ms = spec.model_serving
    if ms is None:
        return
    total = sum(v.weight for v in ms.versions)
    if total != 100:
        weights = " + ".join(str(v.weight) for v in ms.versions)
        yield ("model_serving", "versions"), f"weights must sum to 100, got {weights} = {total}"
    versions: dict[str, int] = {}
    for i, v in enumerate(ms.versions):
        if v.version in versions:
            yield ("model_serving", "versions", i, "version"), f"duplicate version {v.version!r}"
        versions.setdefault(v.version, i)
    if sum(v.canary for v in ms.versions) > 1:
        yield ("model_serving", "versions"), "at most one version can be the canary"
    for i, rule in enumerate(ms.routing_rules):
        if rule.target_version not in versions:
            yield ("model_serving", "routing_rules", i, "target_version"), (
                f"version {rule.target_version!r} is not in model_serving.versions"
                f"{did_you_mean(rule.target_version, set(versions))}"
            )
        if parse_condition(rule.condition) == ("lit", True) and i != len(ms.routing_rules) - 1:
            yield ("model_serving", "routing_rules", i, "condition"), (
                "the 'default' rule matches everything, so the rules after it never apply; move it last"
            )


def _features(spec: Spec) -> Iterator[Issue]:
    fs = spec.feature_store
    if fs is None:
        return
    base: Path = ("feature_store",)
    entities = {e.name for e in fs.entities}
    inline = bool(fs.entities or fs.features)
    if fs.repo_path and inline:
        yield (*base, "repo_path"), "give either repo_path or inline entities/features, not both"
    if not fs.repo_path:
        for key in ("feature_views", "feature_service"):
            if getattr(fs, key):
                yield (*base, key), f"{key} selects from an existing Feast repo: it needs repo_path"
    seen_entities: set[str] = set()
    for i, ent in enumerate(fs.entities):
        if ent.name in seen_entities:
            yield (*base, "entities", i, "name"), f"duplicate entity {ent.name!r}"
        seen_entities.add(ent.name)
    names: set[str] = set()
    for i, feat in enumerate(fs.features):
        if feat.entity not in entities:
            yield (*base, "features", i, "entity"), (
                f"unknown entity {feat.entity!r}{did_you_mean(feat.entity, entities)}"
            )
        if feat.name in names:
            yield (*base, "features", i, "name"), f"duplicate feature {feat.name!r}"
        names.add(feat.name)
        if feat.source is not None and feat.source not in fs.sources:
            yield (*base, "features", i, "source"), (
                f"unknown source {feat.source!r}{did_you_mean(feat.source, set(fs.sources))}"
            )
        elif feat.source is None and len(fs.sources) > 1:
            yield (*base, "features", i), (
                f"feature {feat.name!r} needs 'source': there are several sources ({', '.join(sorted(fs.sources))})"
            )
    views = fs.view_groups()
    by_name: dict[str, int] = {}
    for group in views:
        by_name[group.name] = by_name.get(group.name, 0) + 1
    for i, feat in enumerate(fs.features):
        if feat.view and by_name.get(feat.view, 0) > 1:
            yield (*base, "features", i, "view"), (
                f"view {feat.view!r} would hold features with different entity, source, ttl or online flag; "
                "give them the same values or use another view name"
            )
    for name, src in fs.sources.items():
        used_by_view = any(g.source == name for g in views)
        if src.path and "{{" in src.path and used_by_view:
            yield (*base, "sources", name, "path"), (
                f"feature sources are registered once by apply, so {src.path!r} cannot use templates; "
                "point at a fixed file or folder (templates are fine in training_set.entity_source)"
            )
        if src.query is not None and fs.offline_store.type != "postgres":
            yield (*base, "sources", name, "query"), (
                "a 'query' source needs offline_store: {type: postgres, conn_id: ...}; the file offline store "
                "reads only 'path' sources"
            )
        elif src.query is not None and fs.offline_store.conn_id not in (None, src.conn_id):
            yield (*base, "sources", name, "conn_id"), (
                f"the offline store reads every query through {fs.offline_store.conn_id!r}; "
                f"use that conn_id here too (got {src.conn_id!r})"
            )
    ts = fs.training_set
    if ts is not None:
        known = {f"{g.name}:{f}" for g in views for f in g.features}
        for j, ref in enumerate(ts.features):
            if ":" not in ref:
                yield (*base, "training_set", "features", j), (
                    f"{ref!r} is not a feature reference; write it as 'feature_view:feature'"
                    f"{did_you_mean(ref, {k.split(':', 1)[1] for k in known} | known) if known else ''}"
                )
            elif inline and ref not in known:
                yield (*base, "training_set", "features", j), f"unknown feature {ref!r}{did_you_mean(ref, known)}"
        if inline and not views:
            yield (*base, "training_set"), "no feature has a source, so there is nothing to build a training set from"
        if fs.repo_path and not ts.features and not fs.feature_service:
            yield (*base, "training_set", "features"), (
                "with repo_path, name the features ('view:feature') or set feature_store.feature_service"
            )
    sched = fs.materialize.schedule
    if sched in SPECIAL_SCHEDULES:
        yield (*base, "materialize", "schedule"), (
            f"{sched!r} has no data intervals; materialization needs a cron expression or preset such as '@hourly'"
        )
    yield from check_schedule(sched, (*base, "materialize", "schedule"))


def _experiment(spec: Spec) -> Iterator[Issue]:
    from airflow_aiinfra.spec.model.experiment import experiment_issues

    yield from experiment_issues(spec)


def semantic_issues(spec: Spec) -> list[Issue]:
    issues: list[Issue] = []
    issues.extend(check_schedule(spec.schedule, ("schedule",)))
    try:
        zoneinfo.ZoneInfo(spec.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        issues.append((("timezone",), f"unknown time zone {spec.timezone!r}; use an IANA name such as 'UTC'"))
    for check in (_training, _quality, _serving, _features, _experiment):
        issues.extend(check(spec))
    return issues
