"""A small mutable graph of TaskPlans that section planners add to, then freeze into a DagPlan."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from airflow_aiinfra.plan.model import TaskPlan


class PlanGraph:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskPlan] = {}

    def add(self, task: TaskPlan) -> TaskPlan:
        if task.task_id in self.tasks:
            raise ValueError(f"task {task.task_id!r} planned twice")
        self.tasks[task.task_id] = task
        return task

    def update(self, task_id: str, **changes: Any) -> TaskPlan:
        self.tasks[task_id] = replace(self.tasks[task_id], **changes)
        return self.tasks[task_id]

    def add_edge(self, upstream: str, downstream: str) -> None:
        task = self.tasks[downstream]
        if upstream not in task.upstream:
            self.update(downstream, upstream=(*task.upstream, upstream))

    def of_kind(self, kind: str) -> list[TaskPlan]:
        return [t for t in self.tasks.values() if t.kind == kind]

    def roots(self, among: list[TaskPlan] | None = None) -> list[TaskPlan]:
        return [t for t in (among if among is not None else self.tasks.values()) if not t.upstream]

    def leaves(self) -> list[TaskPlan]:
        used = {u for t in self.tasks.values() for u in t.upstream}
        return [t for t in self.tasks.values() if t.task_id not in used]

    def freeze(self) -> tuple[TaskPlan, ...]:
        return tuple(self.tasks.values())
