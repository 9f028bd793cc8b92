"""Jinja in spec strings is limited to an allow-list of run values.

A spec may say ``{{ ds }}`` or ``{{ params.lr }}`` but never ``{{ conn.x.password }}``,
``{{ var.value.token }}`` or macros, so no spec can render a secret into a pod.
Checked with Jinja's own parser; nothing is rendered here.
"""

from __future__ import annotations

import re
from functools import lru_cache

ALLOWED_NAMES = frozenset(
    {"ds", "ds_nodash", "ts", "ts_nodash", "data_interval_start", "data_interval_end", "logical_date",
     "run_id", "params"}
)
# Parse-time fast path: ``{{ ds }}`` / ``{{ params.lr }}`` are allowed without asking Jinja (its parser was a
# third of a spec's parse time). Braces right before or after a match, or any Jinja marker left between the
# matches, send the value to the full check below.
_PLAIN = re.compile(
    r"(?<!\{)\{\{[ \t]*(?:" + "|".join(sorted(ALLOWED_NAMES - {"params"})) + r"|params\.[A-Za-z]\w*)[ \t]*\}\}(?!\})"
)
_MARKERS = ("{{", "{%", "{#")


@lru_cache(maxsize=1)
def _env():
    import jinja2  # Airflow imports it anyway; kept lazy for `aiinfra validate`

    return jinja2.Environment()


def check_template(value: str) -> str | None:
    """Return an error message when ``value`` uses Jinja beyond the allow-list, else None."""
    if "{{" not in value and "{%" not in value and "{#" not in value:
        return None
    if not any(m in part for part in _PLAIN.split(value) for m in _MARKERS):
        return None  # only plain allowed names
    return _check_jinja(value)


@lru_cache(maxsize=4096)
def _check_jinja(value: str) -> str | None:
    """The full check with Jinja's parser; specs repeat their templates, so results are cached."""
    import jinja2
    from jinja2 import meta, nodes

    try:
        ast = _env().parse(value)
    except jinja2.TemplateSyntaxError as exc:
        return f"invalid Jinja template {value!r}: {exc.message}"
    bad = sorted(meta.find_undeclared_variables(ast) - ALLOWED_NAMES)
    if bad:
        allowed = ", ".join(sorted(ALLOWED_NAMES - {"params"})) + ", params.*"
        return (f"template uses {', '.join(repr(b) for b in bad)}, which a spec may not read "
                f"(secrets come from connections or Kubernetes Secrets); allowed: {allowed}")
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "")
        if isinstance(attr, str) and attr.startswith("_"):
            return f"template reads private attribute {attr!r}; only plain run values are allowed"
    if any(True for _ in ast.find_all((nodes.Call,))):
        return "templates may not call functions or macros; use the plain values (e.g. {{ ds }})"
    return None
