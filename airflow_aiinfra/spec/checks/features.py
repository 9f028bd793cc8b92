"""``feature_store``: entities, sources and views that refer to each other, stores that can read them."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.locations import lexical_problem
from airflow_aiinfra.spec.checks.common import Issue, check_schedule
from airflow_aiinfra.spec.model.features import FeatureStore
from airflow_aiinfra.spec.model.root import Spec
from airflow_aiinfra.spec.options import SpecOptions
from airflow_aiinfra.spec.schedules import SPECIAL_SCHEDULES
from airflow_aiinfra.spec.suggest import Suggestions
from airflow_aiinfra.spec.types import shown
from airflow_aiinfra.spec.yaml_loader import Path
from airflow_aiinfra.sql import param_problems, scan


def issues(spec: Spec, options: SpecOptions) -> Iterator[Issue]:
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
    entity_hints, source_hints = Suggestions(entities), Suggestions(fs.sources)
    for i, feat in enumerate(fs.features):
        if feat.entity not in entities:
            yield (*base, "features", i, "entity"), (
                f"unknown entity {shown(feat.entity)}{entity_hints.hint(feat.entity)}"
            )
        if feat.name in names:
            yield (*base, "features", i, "name"), f"duplicate feature {feat.name!r}"
        names.add(feat.name)
        if feat.source is not None and feat.source not in fs.sources:
            yield (*base, "features", i, "source"), (
                f"unknown source {shown(feat.source)}{source_hints.hint(feat.source)}"
            )
        elif feat.source is None and len(fs.sources) > 1:
            yield (*base, "features", i), (
                f"feature {feat.name!r} needs 'source': there are several sources ({_listed(fs.sources)})"
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
    view_sources = {g.source for g in views}
    for name, src in fs.sources.items():
        used_by_view = name in view_sources
        if src.path and "{{" in src.path and used_by_view:
            yield (*base, "sources", name, "path"), (
                f"feature sources are registered once by apply, so {src.path!r} cannot use templates; "
                "point at a fixed file or folder (templates are fine in training_set.entity_source)"
            )
        if src.query is not None and (problem := scan(src.query).problem):
            yield (*base, "sources", name, "query"), problem
        if src.params:
            yield (*base, "sources", name, "params"), (
                "Feast runs a feature source's query itself, so it binds no params; params are for "
                "training_set.entity_source")
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
    if ts is not None and ts.entity_source is not None:
        src = ts.entity_source
        if src.query is not None:
            for param, problem in param_problems(src.query, src.params):
                yield (*base, "training_set", "entity_source", *(("params", param) if param else ("query",))), problem
        elif src.params:
            yield (*base, "training_set", "entity_source", "params"), "'params' belong to a 'query'; a 'path' takes none"
    if ts is not None:
        known = {f"{g.name}:{f}" for g in views for f in g.features}
        ref_hints = Suggestions(known)
        name_hints = Suggestions({k.split(":", 1)[1] for k in known} | known)
        for j, ref in enumerate(ts.features):
            if ":" not in ref:
                yield (*base, "training_set", "features", j), (
                    f"{shown(ref)} is not a feature reference; write it as 'feature_view:feature'{name_hints.hint(ref)}"
                )
            elif inline and ref not in known:
                yield (*base, "training_set", "features", j), f"unknown feature {shown(ref)}{ref_hints.hint(ref)}"
        if inline and not views:
            yield (*base, "training_set"), "no feature has a source, so there is nothing to build a training set from"
        if fs.repo_path and not ts.features and not fs.feature_service:
            yield (*base, "training_set", "features"), (
                "with repo_path, name the features ('view:feature') or set feature_store.feature_service"
            )
        if spec.training_pipeline is not None:
            for i, stage in enumerate(spec.training_pipeline.stages):
                if ts.stage_env in stage.env:
                    yield ("training_pipeline", "stages", i, "env", ts.stage_env), (
                        f"{ts.stage_env} is set by feature_store.training_set (the training set's path) for every "
                        "stage; remove it from env, or name another variable with training_set.stage_env")
    yield from _location_issues(fs, base, options)
    sched = fs.materialize.schedule
    if sched in SPECIAL_SCHEDULES:
        yield (*base, "materialize", "schedule"), (
            f"{sched!r} has no data intervals; materialization needs a cron expression or preset such as '@hourly'"
        )
    yield from check_schedule(sched, (*base, "materialize", "schedule"))


def _listed(names: object, limit: int = 8) -> str:
    items = sorted(names)  # type: ignore[call-overload]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _location_issues(fs: FeatureStore, base: Path, options: SpecOptions) -> Iterator[Issue]:
    """Feature sources, the training set's output and the SQLite online store are data locations
    (``airflow_aiinfra.locations``); ``repo_path`` is a Feast repo, code by design, and is not one."""
    paths: list[tuple[Path, str | None]] = [((*base, "sources", n, "path"), s.path) for n, s in fs.sources.items()]
    paths.append(((*base, "online_store", "path"), fs.online_store.path))
    if fs.training_set is not None:
        ts = fs.training_set
        paths.append(((*base, "training_set", "output_path"), ts.output_path))
        if ts.entity_source is not None:
            paths.append(((*base, "training_set", "entity_source", "path"), ts.entity_source.path))
    for where, value in paths:
        if value is not None and (problem := lexical_problem(value, options.data_roots)):
            yield where, problem
