"""Schedule words a spec may use (shared by validation and planning; no checks here)."""

from __future__ import annotations

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
SPECIAL_SCHEDULES = frozenset({"@once", "@continuous"})
