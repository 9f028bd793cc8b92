"""feature_store → apply / training-set tasks in the pipeline, and a materialization DAG of its own.

Everything a Feast task needs is in its payload as plain data (paths resolved against the bundle root, no
connections, no Feast objects): the Feast hook turns it into Feast objects at run time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_aiinfra.contract import (
    FEAST_APPLY,
    FEAST_CONSISTENCY,
    FEAST_MATERIALIZE,
    FEAST_TRAINING_SET,
    FeastApplyPayload,
    FeastConsistencyPayload,
    FeastEntityDef,
    FeastMaterializePayload,
    FeastSourceDef,
    FeastTrainingSetPayload,
    FeastViewDef,
    Payload,
    TaskKind,
    asset_uri,
)
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.dags import dag_plan
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import DagPlan, TaskPlan

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.model.features import FeatureStore, Source


def project_name(ctx: PlanContext) -> str:
    fs = ctx.spec.feature_store
    assert fs is not None
    return fs.project or ctx.spec.name.replace("-", "_")


def store_fields(ctx: PlanContext) -> dict[str, Any]:
    """Where the feature store lives: project, repo or inline registry, online/offline stores, replay policy.
    With repo_path, the repo's feature_store.yaml decides each store unless the spec sets it explicitly."""
    fs = ctx.spec.feature_store
    assert fs is not None
    online = not fs.repo_path or "online_store" in fs.model_fields_set
    offline = not fs.repo_path or "offline_store" in fs.model_fields_set
    return {
        "project": project_name(ctx),
        "repo_path": ctx.resolve(fs.repo_path),
        "online_store_type": fs.online_store.type if online else None,
        "online_store_path": ctx.resolve(fs.online_store.path) if online else None,
        "online_store_conn_id": fs.online_store.conn_id if online else None,
        "offline_store_type": fs.offline_store.type if offline else None,
        "offline_store_conn_id": fs.offline_store.conn_id if offline else None,
        "allow_overwrite_newer": fs.materialize.allow_overwrite_newer,
    }


def _source(ctx: PlanContext, src: Source) -> FeastSourceDef:
    return FeastSourceDef(path=ctx.resolve(src.path), query=src.query, conn_id=src.conn_id,
                          timestamp_field=src.timestamp_field, created_timestamp_column=src.created_timestamp_column)


def apply_payload(ctx: PlanContext) -> FeastApplyPayload:
    """Inline entities/sources/views as plain data; none of them in repo_path mode (the repo defines them)."""
    fs = ctx.spec.feature_store
    assert fs is not None
    if fs.repo_path:
        return FeastApplyPayload(**store_fields(ctx))
    features = {f.name: f for f in fs.features}
    groups = fs.view_groups()
    used = {g.source for g in groups}
    entities = {e.name: e for e in fs.entities}
    return FeastApplyPayload(
        **store_fields(ctx),
        entities=[FeastEntityDef(name=e.name, join_keys=list(e.join_keys), description=e.description,
                                 value_type=e.value_type) for e in fs.entities],
        sources={name: _source(ctx, s) for name, s in fs.sources.items() if name in used},
        feature_views=[
            FeastViewDef(
                name=g.name,
                entity=g.entity,
                join_keys=list(entities[g.entity].join_keys),
                source=g.source,
                ttl_seconds=int(g.ttl.total_seconds()),
                online=g.online,
                features=[{"name": n, "dtype": features[n].dtype, "description": features[n].description}
                          for n in g.features],
            )
            for g in groups
        ],
        unsourced_features=[f.name for f in fs.features if fs.source_of(f) is None],
    )


def materialized_views(fs: FeatureStore) -> list[str]:
    """Views the materialization DAG writes; [] means every online view of the repo."""
    if fs.repo_path:
        return list(fs.feature_views)
    return [g.name for g in fs.view_groups() if g.online]


def _task(ctx: PlanContext, task_id: str, kind: TaskKind, payload: Payload, upstream: tuple[str, ...] = (),
          doc: str = "", outlets: tuple[str, ...] = ()) -> TaskPlan:
    return ctx.task(task_id, kind, payload, upstream=upstream, doc=doc, outlets=outlets)


def apply_task(ctx: PlanContext) -> TaskPlan:
    return _task(ctx, FEAST_APPLY, TaskKind.FEAST_APPLY, apply_payload(ctx),
                 doc="Apply the spec's Feast definitions (or the repo's) to the registry; a no-op when unchanged.")


def training_set_payload(ctx: PlanContext) -> FeastTrainingSetPayload:
    fs = ctx.spec.feature_store
    assert fs is not None and fs.training_set is not None
    ts = fs.training_set
    src = ts.entity_source
    return FeastTrainingSetPayload(
        **store_fields(ctx),
        output_path=ctx.resolve(ts.output_path) or ts.output_path,
        features=list(ts.features) or ([f"{g.name}:{f}" for g in fs.view_groups() for f in g.features]
                                       if not fs.repo_path else []),
        views=materialized_views(fs),
        feature_service=fs.feature_service,
        entity_path=ctx.resolve(src.path) if src else None,
        entity_query=src.query if src else None,
        entity_query_params=dict(src.params) if src else {},
        entity_conn_id=src.conn_id if src else None,
        entity_timestamp_field=src.timestamp_field if src else "event_timestamp",
        base_dir=ctx.options.bundle_root,
        entity_window_seconds=int(ts.entity_window.total_seconds()) if ts.entity_window else None,
    )


def plan_feature_tasks(ctx: PlanContext, graph: PlanGraph) -> None:
    fs = ctx.spec.feature_store
    if fs is None:
        return
    stages = graph.of_kind(TaskKind.STAGE)
    roots = graph.roots(stages)
    graph.add(apply_task(ctx))
    last = FEAST_APPLY
    ts = fs.training_set
    if ts is not None:
        payload = training_set_payload(ctx)
        graph.add(_task(ctx, FEAST_TRAINING_SET, TaskKind.FEAST_TRAINING_SET, payload, upstream=(FEAST_APPLY,),
                        doc=f"Point-in-time training set → {ts.output_path} (stages read ${ts.stage_env})."))
        last = FEAST_TRAINING_SET
        for stage in stages:  # as written: relative paths mean the same in a pod and under the local runner
            assert stage.pod is not None
            graph.update(stage.task_id, pod=replace(stage.pod, env={**stage.pod.env, ts.stage_env: ts.output_path}))
    for stage in roots:
        graph.add_edge(last, stage.task_id)


def plan_materialize_dag(ctx: PlanContext) -> DagPlan | None:
    fs = ctx.spec.feature_store
    if fs is None:
        return None
    views = materialized_views(fs)
    if not fs.repo_path and not views:
        return None  # no online feature view with a source: nothing to materialize
    store = store_fields(ctx)
    graph = PlanGraph()
    graph.add(apply_task(ctx))
    graph.add(_task(ctx, FEAST_MATERIALIZE, TaskKind.FEAST_MATERIALIZE,
                    FeastMaterializePayload(**store, views=views), upstream=(FEAST_APPLY,),
                    outlets=(asset_uri(ctx.spec.name, "features"),),
                    doc="Materialize exactly this run's data interval [start, end) into the online store."))
    c = fs.consistency
    graph.add(_task(ctx, FEAST_CONSISTENCY, TaskKind.FEAST_CONSISTENCY, FeastConsistencyPayload(
        **store, views=views, tolerance=c.tolerance, alert_threshold=c.alert_threshold,
        sample_size=c.sample_size, check_interval_seconds=int(c.check_interval.total_seconds()),
    ), upstream=(FEAST_MATERIALIZE,), doc="Compare online values with point-in-time offline values for a sample."))
    return dag_plan(ctx, ctx.dag_id("materialize"), graph, schedule=fs.materialize.schedule,
                    start_date=fs.materialize.start_date, catchup=fs.materialize.catchup, extra_tags=("feast",))
