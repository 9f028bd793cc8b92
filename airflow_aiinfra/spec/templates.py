"""Jinja in spec strings is limited to an allow-list of run values.

A spec may say ``{{ ds }}`` or ``{{ params.lr }}`` but never ``{{ conn.x.password }}``,
``{{ var.value.token }}`` or macros, so no spec can render a secret into a pod.
Checked with Jinja's own parser; nothing is rendered here.
"""

from __future__ import annotations

from functools import lru_cache

ALLOWED_NAMES = frozenset(
    {"ds", "ds_nodash", "ts", "ts_nodash", "data_interval_start", "data_interval_end", "logical_date",
     "run_id", "params"}
)


@lru_cache(maxsize=1)
def _env():
    import jinja2  # Airflow imports it anyway; kept lazy for `aiinfra validate`

    return jinja2.Environment()


def check_template(value: str) -> str | None:
    """Return an error message when ``value`` uses Jinja beyond the allow-list, else None."""
    if "{{" not in value and "{%" not in value and "{#" not in value:
        return None
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
