"""feature_store → apply / training-set tasks in the pipeline, and a materialization DAG of its own.

Everything a Feast task needs is put into its payload as plain data (paths resolved against the
bundle root, no connections, no Feast objects): ``hooks.feast`` turns it into Feast objects at run time.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan, TaskPlan
from airflow_aiinfra.spec.model.features import FeatureStore, Source

GROUP = "features"
APPLY, MATERIALIZE, CONSISTENCY, TRAINING_SET = (f"{GROUP}.{n}" for n in ("apply", "materialize", "consistency",
                                                                            "training_set"))


def _root(ctx: PlanContext) -> str:
    return ctx.options.local_cwd or os.path.dirname(ctx.loaded.path) or os.getcwd()


def resolve(ctx: PlanContext, path: str | None) -> str | None:
    """Relative spec paths are relative to the bundle root (where stages run); URLs stay as written."""
    if path is None or "://" in path or os.path.isabs(path) or path.startswith("{{"):
        return path
    return os.path.normpath(os.path.join(_root(ctx), path))


def project_name(ctx: PlanContext) -> str:
    fs = ctx.spec.feature_store
    assert fs is not None
    return fs.project or ctx.spec.name.replace("-", "_")


def store_payload(ctx: PlanContext) -> dict[str, Any]:
    """Where the feature store lives: project, repo or inline registry, online/offline stores, replay policy."""
    fs = ctx.spec.feature_store
    assert fs is not None
    return {
        "project": project_name(ctx),
        "repo_path": resolve(ctx, fs.repo_path),
        # with repo_path, the repo's feature_store.yaml decides unless the spec sets a store explicitly
        "online_store": {**fs.online_store.model_dump(), "path": resolve(ctx, fs.online_store.path)}
        if not fs.repo_path or "online_store" in fs.model_fields_set else None,
        "offline_store": fs.offline_store.model_dump()
        if not fs.repo_path or "offline_store" in fs.model_fields_set else None,
        "allow_overwrite_newer": fs.materialize.allow_overwrite_newer,
    }


def _source(ctx: PlanContext, src: Source) -> dict[str, Any]:
    return {**src.model_dump(), "path": resolve(ctx, src.path)}


def definitions(ctx: PlanContext) -> dict[str, Any] | None:
    """Inline entities/sources/views as plain data; None for repo_path mode (the repo defines them)."""
    fs = ctx.spec.feature_store
    assert fs is not None
    if fs.repo_path:
        return None
    features = {f.name: f for f in fs.features}
    groups = fs.view_groups()
    used = {g.source for g in groups}
    entities = {e.name: e for e in fs.entities}
    return {
        "entities": [e.model_dump() for e in fs.entities],
        "sources": {name: _source(ctx, s) for name, s in fs.sources.items() if name in used},
        "views": [
            {
                "name": g.name,
                "entity": g.entity,
                "join_keys": list(entities[g.entity].join_keys),
                "source": g.source,
                "ttl_seconds": int(g.ttl.total_seconds()),
                "online": g.online,
                "features": [
                    {"name": n, "dtype": features[n].dtype, "description": features[n].description}
                    for n in g.features
                ],
            }
            for g in groups
        ],
        "unsourced": [f.name for f in fs.features if fs.source_of(f) is None],
    }


def materialized_views(fs: FeatureStore) -> list[str]:
    """Views the materialization DAG writes; [] means every online view of the repo."""
    if fs.repo_path:
        return list(fs.feature_views)
    return [g.name for g in fs.view_groups() if g.online]


def _task(ctx: PlanContext, task_id: str, kind: str, payload: dict[str, Any], upstream: tuple[str, ...] = (),
          doc: str = "") -> TaskPlan:
    return ctx.task(task_id, kind, upstream=upstream, payload=payload, doc=doc)


def apply_task(ctx: PlanContext) -> TaskPlan:
    return _task(ctx, APPLY, "feast_apply", {"store": store_payload(ctx), "definitions": definitions(ctx)},
                 doc="Apply the spec's Feast definitions (or the repo's) to the registry; a no-op when unchanged.")


def plan_feature_tasks(ctx: PlanContext, graph: PlanGraph) -> None:
    fs = ctx.spec.feature_store
    if fs is None:
        return
    roots = graph.roots(graph.of_kind("stage"))
    graph.add(apply_task(ctx))
    last = APPLY
    ts = fs.training_set
    if ts is not None:
        graph.add(_task(ctx, TRAINING_SET, "feast_training_set", {
            "store": store_payload(ctx),
            "features": list(ts.features) or ([f"{g.name}:{f}" for g in fs.view_groups() for f in g.features]
                                               if not fs.repo_path else []),
            "views": materialized_views(fs),
            "feature_service": fs.feature_service,
            "entity_source": _source(ctx, ts.entity_source) if ts.entity_source else None,
            "entity_window_seconds": int(ts.entity_window.total_seconds()) if ts.entity_window else None,
            "output_path": resolve(ctx, ts.output_path),
        }, upstream=(APPLY,), doc=f"Point-in-time training set → {ts.output_path} (stages read ${ts.stage_env})."))
        last = TRAINING_SET
        for stage in graph.of_kind("stage"):
            assert stage.pod is not None
            graph.update(stage.task_id, pod=replace(stage.pod, env={**stage.pod.env, ts.stage_env: ts.output_path}))
    for stage in roots:
        graph.add_edge(last, stage.task_id)


def plan_materialize_dag(ctx: PlanContext) -> DagPlan | None:
    from airflow_aiinfra.plan.build import dag_plan  # build imports this module

    fs = ctx.spec.feature_store
    if fs is None:
        return None
    views = materialized_views(fs)
    if not fs.repo_path and not views:
        return None  # no online feature view with a source: nothing to materialize
    store = store_payload(ctx)
    graph = PlanGraph()
    graph.add(apply_task(ctx))
    graph.add(_task(ctx, MATERIALIZE, "feast_materialize", {"store": store, "views": views}, upstream=(APPLY,),
                    doc="Materialize exactly this run's data interval [start, end) into the online store."))
    c = fs.consistency
    graph.add(_task(ctx, CONSISTENCY, "feast_consistency", {
        "store": store, "views": views, "tolerance": c.tolerance, "alert_threshold": c.alert_threshold,
        "sample_size": c.sample_size, "check_interval_seconds": int(c.check_interval.total_seconds()),
    }, upstream=(MATERIALIZE,), doc="Compare online values with point-in-time offline values for a sample."))
    return dag_plan(ctx, ctx.dag_id("materialize"), graph, schedule=fs.materialize.schedule,
                    start_date=fs.materialize.start_date, catchup=fs.materialize.catchup, extra_tags=("feast",))
