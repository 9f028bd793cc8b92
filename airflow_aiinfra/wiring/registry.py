"""Task kind → operator builder. Each integration registers the builder of its own kind."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from airflow_aiinfra.plan.model import DagPlan, TaskPlan

Builder = Callable[[TaskPlan, DagPlan, dict[str, Any]], Any]
BUILDERS: dict[str, Builder] = {}


def builder(kind: str) -> Builder:
    """The builder of a task kind; importing the builders package registers them all."""
    import airflow_aiinfra.wiring.builders  # noqa: F401

    return BUILDERS[kind]


def register(kind: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        BUILDERS[kind] = fn
        return fn

    return deco


def payload_operator(kind: str, class_path: str) -> None:
    """Register ``kind`` as ``Class(**common_kwargs, **task.payload)``: the plan's payload keys are the
    operator's keyword arguments. The class is imported when the first such task is built."""

    def build(task: TaskPlan, dag: DagPlan, common: dict[str, Any]) -> Any:
        module, _, name = class_path.rpartition(".")
        operator = getattr(importlib.import_module(module), name)
        return operator(**common_kwargs(task, common), **task.payload)

    BUILDERS[kind] = build


def common_kwargs(task: TaskPlan, common: dict[str, Any]) -> dict[str, Any]:
    """Task arguments every kind shares: id, group, retries, timeout, pool, trigger rule."""
    kw: dict[str, Any] = {
        "task_id": task.name,
        "retries": task.retries,
        "retry_delay": task.retry_delay,
        "retry_exponential_backoff": 2.0 if task.retry_exponential_backoff else 0,
        "execution_timeout": task.execution_timeout,
        "pool_slots": task.pool_slots,
        "trigger_rule": task.trigger_rule,
        **common,
    }
    if task.max_retry_delay is not None:
        kw["max_retry_delay"] = task.max_retry_delay
    if task.pool:
        kw["pool"] = task.pool
    if task.doc:
        kw["doc_md"] = task.doc
    return kw
