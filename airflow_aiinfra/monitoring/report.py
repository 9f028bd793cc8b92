"""The monitoring report as one self-contained HTML file (logged to MLflow as an artifact)."""

from __future__ import annotations

from html import escape
from typing import Any


def _row(cells: list[Any], bad: bool = False) -> str:
    style = ' style="background:#fdecea"' if bad else ""
    return f"<tr{style}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def render(title: str, window: tuple[str, str], model: str, drift: dict[str, Any] | None,
           decay: dict[str, Any] | None = None) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
             "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px 8px}"
             "table{border-collapse:collapse}</style></head><body>",
             f"<h1>{escape(title)}</h1><p>window {escape(window[0])} → {escape(window[1])}; model "
             f"{escape(model)}</p>"]
    if drift is not None:
        verdict = "DRIFT" if drift["dataset_drift"] else "no drift"
        parts.append(f"<h2>Drift: {verdict}</h2><p>drifted share {drift['share']:.3f} "
                     f"(drift from {drift['drift_share']:g})</p>")
        parts.append("<table><tr><th>column</th><th>test</th><th>statistic</th><th>threshold</th>"
                     "<th>drifted</th><th>reference rows</th><th>window rows</th></tr>")
        rows = drift["features"] + ([drift["prediction"]] if drift.get("prediction") else [])
        for f in rows:
            parts.append(_row([f["name"], f["test"], f"{f['statistic']:.6g}", f["threshold"], f["drifted"],
                               f["reference_rows"], f["current_rows"]], f["drifted"]))
        parts.append("</table>")
        for note in drift.get("notes", []):
            parts.append(f"<p>{escape(note)}</p>")
    if decay is not None:
        parts.append(f"<h2>Performance: {'DECAY' if decay['broken'] else 'ok'}</h2><table>"
                     "<tr><th>metric</th><th>window</th><th>at registration</th></tr>")
        for k, v in sorted(decay["metrics"].items()):
            parts.append(_row([k, f"{v:.6g}", decay["registered"].get(k, "")]))
        parts.append("</table>")
        for line in decay["broken"]:
            parts.append(f"<p style='color:#b00'>{escape(line)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
