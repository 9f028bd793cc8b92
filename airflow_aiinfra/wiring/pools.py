"""``aiinfra pools``: create or update the Airflow pools GPU stages and rollouts draw from.

Rollout pools (``aiinfra_rollout__<target>``, see ``plan/rollout.py``) get one slot and count deferred
tasks, so a rollout waiting out an analysis window keeps its serving target: a second rollout of the same
target waits until the first one's task is done.

Parse time never touches the metadata DB, so pools are an explicit admin step. A stage
asking for more slots than its pool holds would stay queued forever: it is reported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airflow_aiinfra.plan.rollout import POOL_PREFIX as ROLLOUT_POOL_PREFIX


@dataclass
class PoolNeed:
    name: str
    declared: int | None = None  # slots the specs declare for it (Defaults.pool_slots; largest)
    largest: int = 0  # most slots one task asks for
    users: list[str] = field(default_factory=list)


def pool_needs(paths: Sequence[str]) -> tuple[dict[str, PoolNeed], list[str]]:
    """Pools the specs need, and spec errors (as lines) for specs that do not load."""
    from airflow_aiinfra import config
    from airflow_aiinfra.errors import SpecError
    from airflow_aiinfra.plan.build import build_plans
    from airflow_aiinfra.spec.files import expand_paths
    from airflow_aiinfra.spec.load import load_spec

    needs: dict[str, PoolNeed] = {}
    errors: list[str] = []
    options = config.spec_options()
    for path in expand_paths(paths):
        try:
            loaded = load_spec(Path(path), options)
        except SpecError as exc:
            errors.extend(str(i) for i in exc.issues)
            continue
        for plan in build_plans(loaded):
            for task in plan.tasks:
                if not task.pool:
                    continue
                need = needs.setdefault(task.pool, PoolNeed(task.pool))
                declared = loaded.spec.defaults.pool_slots(task.pool)  # the rule the spec check applies
                if declared:
                    need.declared = max(need.declared or 0, declared)
                need.largest = max(need.largest, task.pool_slots)
                need.users.append(f"{plan.dag_id}.{task.task_id} ({task.pool_slots})")
    return needs, errors


def sync_pools(paths: Sequence[str], *, dry_run: bool = False) -> int:
    """Create/update each pool with its declared slots; exit 1 if a task can never fit its pool."""
    needs, errors = pool_needs(paths)
    for line in errors:
        print(line)
    status = 1 if errors else 0
    if not dry_run:
        from airflow.models.pool import Pool
    for need in needs.values():
        existing = None if dry_run else Pool.get_pool(need.name)
        slots = need.declared or (existing.slots if existing else None) or need.largest
        rollout = need.name.startswith(ROLLOUT_POOL_PREFIX)
        if rollout:
            slots = 1
        if not dry_run and (need.declared or existing is None or rollout):
            description = ("one canary rollout of this serving target at a time (aiinfra pools)" if rollout
                           else "GPUs for aiinfra stages (aiinfra pools)")
            Pool.create_or_update_pool(need.name, slots, description, rollout)
        verb = "would set" if dry_run else "set"
        print(f"pool {need.name}: {verb} {slots} slots; largest task needs {need.largest}")
        if need.largest > slots:
            status = 1
            for user in need.users:
                print(f"  {user} can never run: pool {need.name} has {slots} slots; raise gpu_pool_slots")
    return status
