"""data_quality → one gate task per gate in the ``data_quality`` group, placed before/after stages.

Placement (stage names are the spec's, tasks are ``training.<stage>``):

- ``before: [b]``: the gate is upstream of ``b``.
- ``after: [a]``: ``a`` is upstream of the gate. Without ``before``, the stages that depend on
  ``a`` wait for the gate too, so a gate that checks a stage's output stops its consumers.
- neither: the gate is upstream of every root stage (those with no ``depends_on``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_aiinfra.contract import GatePayload, TaskKind, gate_task_id, stage_task_id
from airflow_aiinfra.plan.context import PlanContext
from airflow_aiinfra.plan.graph import PlanGraph
from airflow_aiinfra.plan.model import TaskPlan

if TYPE_CHECKING:  # type hints only: spec models are built when a spec needs them (spec/model/root.py)
    from airflow_aiinfra.spec.model.quality import Gate


def gate_payload(ctx: PlanContext, gate: Gate) -> GatePayload:
    """What the gate operator receives (see DataQualityOperator); relative paths resolve at run time
    against ``base_dir``, the bundle root."""
    data = gate.data
    return GatePayload(
        gate=gate.name,
        path=data.path,
        format=data.format,
        query=data.query,
        conn_id=data.conn_id,
        query_params=dict(data.params),
        expectations=[{name: args} for name, args in gate.expectation_items()],
        suite_path=gate.suite_path,
        on_failure=gate.on_failure,
        base_dir=ctx.options.bundle_root,
    )


def plan_gate(ctx: PlanContext, gate: Gate) -> TaskPlan:
    what = gate.data.path or f"query on {gate.data.conn_id}"
    # Bad data is never retried (DataQualityFailed); the default retries only cover reaching the data.
    return ctx.task(
        gate_task_id(gate.name),
        TaskKind.DQ_GATE,
        gate_payload(ctx, gate),
        doc=f"Great Expectations gate **{gate.name}** on `{what}` (on_failure: {gate.on_failure}).",
    )


def _waiting_stages(ctx: PlanContext, gate: Gate) -> list[str]:
    """Stage names that must wait for the gate."""
    stages = ctx.spec.training_pipeline.stages if ctx.spec.training_pipeline else []
    if gate.before:
        return list(gate.before)
    if gate.after:
        after = set(gate.after)
        return [s.name for s in stages if after & set(s.depends_on) and s.name not in after]
    return [s.name for s in stages if not s.depends_on]


def plan_quality(ctx: PlanContext, graph: PlanGraph) -> None:
    dq = ctx.spec.data_quality
    if dq is None:
        return
    for gate in dq.gates:
        task = graph.add(plan_gate(ctx, gate))
        for name in gate.after:
            stage = stage_task_id(name)
            if stage in graph.tasks:
                graph.add_edge(stage, task.task_id)
        for name in _waiting_stages(ctx, gate):
            stage = stage_task_id(name)
            if stage in graph.tasks:
                graph.add_edge(task.task_id, stage)
