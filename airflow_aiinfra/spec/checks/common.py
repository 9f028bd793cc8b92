"""Checks several sections share: schedules, dependency cycles."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_aiinfra.spec.schedules import CRON_PRESETS, SPECIAL_SCHEDULES
from airflow_aiinfra.spec.suggest import did_you_mean
from airflow_aiinfra.spec.types import shown
from airflow_aiinfra.spec.yaml_loader import Path

Issue = tuple[Path, str]


def check_schedule(schedule: str | None, path: Path) -> Iterator[Issue]:
    if schedule is None or schedule in CRON_PRESETS or schedule in SPECIAL_SCHEDULES:
        return
    from datetime import datetime

    from croniter import CroniterBadDateError, croniter  # small; Airflow needs it anyway

    presets = sorted(CRON_PRESETS) + sorted(SPECIAL_SCHEDULES)
    if len(schedule) > 128 or not croniter.is_valid(schedule):
        yield path, (
            f"{shown(schedule)} is not a cron expression or preset{did_you_mean(schedule, presets)}"
            " (e.g. '0 3 * * *', '@daily', or null for manual runs)"
        )
        return
    try:  # a valid expression can still never fire: '0 0 30 2 *' (30 February)
        croniter(schedule, datetime(2000, 1, 1), max_years_between_matches=8).get_next(datetime)
    except CroniterBadDateError:
        yield path, f"{schedule!r} never fires (no such date in any year); check the day and month fields"


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, ..., a]`` (edges point at dependencies), or None.

    Iterative depth-first search: a valid chain of thousands of stages must not hit Python's recursion limit.
    """
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in graph:
        if start in state:
            continue
        path: list[str] = [start]
        stack = [iter(graph.get(start, ()))]
        state[start] = 1
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep]
            if dep not in state:
                state[dep] = 1
                path.append(dep)
                stack.append(iter(graph.get(dep, ())))
    return None
