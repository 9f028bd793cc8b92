"""The template language a spec may use: an allow-list of grammar, not only of names.

A spec string may output run values: ``{{ ds }}``, ``{{ params.lr }}``, ``{{ params['lr'] }}``, optionally
through a few harmless filters (``{{ ds | replace('-', '') }}``, ``{{ params.n | default(3) | int }}``), and
``{% raw %}...{% endraw %}`` for literal braces. Everything else is a spec error: every other statement
(``include``, ``import``, ``extends``, ``macro``, ``call``, ``set``, ``for``, ``if``...), arithmetic,
comparisons, calls, tests, other filters, private attributes, and names outside the allow-list (``conn``,
``var``, ``ti``, macros), so no spec can read a secret or a file, or make anyone compute anything.

Checked by walking Jinja's parse tree only: nothing is compiled or rendered here (Jinja's code generator
folds constant expressions, so ``{{ 3 ** 60000000 }}`` would be computed by merely asking it which names a
template uses). Airflow's sandboxed environment renders the allowed templates when a task runs.
"""

from __future__ import annotations

import re
from functools import lru_cache

ALLOWED_NAMES = frozenset(
    {"ds", "ds_nodash", "ts", "ts_nodash", "data_interval_start", "data_interval_end", "logical_date",
     "run_id", "params"}
)
ALLOWED_FILTERS = frozenset({"lower", "upper", "replace", "default", "int", "string", "trim"})
MAX_TEMPLATE_LENGTH = 4096  # characters of a string holding template markers
MAX_NESTING = 16  # brackets inside brackets: Jinja's parser recurses on them
_ALLOWED_TEXT = ", ".join(sorted(ALLOWED_NAMES - {"params"})) + ", params.*"
# Parse-time fast path: ``{{ ds }}`` / ``{{ params.lr }}`` alone need no parse tree. Braces right before or
# after a match, or any Jinja marker left between the matches, send the value to the full check below.
_PLAIN = re.compile(
    r"(?<!\{)\{\{[ \t]*(?:" + "|".join(sorted(ALLOWED_NAMES - {"params"})) + r"|params\.[A-Za-z]\w*)[ \t]*\}\}(?!\})"
)
_MARKERS = ("{{", "{%", "{#")


_KEYWORDS = {"Assign": "set", "AssignBlock": "set", "FromImport": "from ... import", "CallBlock": "call",
             "FilterBlock": "filter", "ExprStmt": "do", "ScopedEvalContextModifier": "autoescape"}


class _Refused(Exception):
    pass


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
    if len(value) > MAX_TEMPLATE_LENGTH:
        return f"a templated string of {len(value)} characters is longer than {MAX_TEMPLATE_LENGTH}; shorten it"
    if _nesting(value) > MAX_NESTING:
        return "the template nests too deeply; use a plain run value such as {{ ds }}"
    return _check_tree(value)


def _nesting(value: str) -> int:
    depth = deepest = 0
    for char in value:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]" and depth:
            depth -= 1
    return deepest


@lru_cache(maxsize=4096)
def _check_tree(value: str) -> str | None:
    """The full check on Jinja's parse tree; specs repeat their templates, so results are cached."""
    import jinja2

    try:
        tree = _env().parse(value)
    except jinja2.TemplateSyntaxError as exc:
        return f"invalid Jinja template: {exc.message} (line {exc.lineno} of the value)"
    except RecursionError:
        return "the template nests too deeply; use a plain run value such as {{ ds }}"
    try:
        for node in tree.body:
            _statement(node)
    except _Refused as exc:
        return str(exc)
    return None


def _statement(node) -> None:
    from jinja2 import nodes

    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                _output(child)
        return
    name = type(node).__name__
    keyword = _KEYWORDS.get(name, name.lower())
    raise _Refused(f"templates may only output run values: '{{% {keyword} %}}' statements are not allowed "
                   "(write {% raw %}...{% endraw %} for literal braces)")


def _output(node) -> None:
    """An output expression: a run value, optionally through allowed filters with constant arguments."""
    from jinja2 import nodes

    while isinstance(node, nodes.Filter):
        if node.name not in ALLOWED_FILTERS:
            raise _Refused(f"filter {node.name!r} is not allowed; use {', '.join(sorted(ALLOWED_FILTERS))}")
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            if not (isinstance(arg, nodes.Const) and isinstance(arg.value, str | int | float | bool | None)):
                raise _Refused(f"the arguments of filter {node.name!r} must be plain constants")
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise _Refused(f"the arguments of filter {node.name!r} must be plain constants")
        node = node.node
    _value(node)


def _value(node) -> None:
    """A run value: an allowed name, then attributes or constant subscripts of it."""
    from jinja2 import nodes

    while isinstance(node, nodes.Getattr | nodes.Getitem):
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(node, nodes.Getitem) and not (isinstance(node.arg, nodes.Const)
                                                     and isinstance(key, str | int)):
            raise _Refused("subscripts must be constants, e.g. {{ params['lr'] }}")
        if isinstance(key, str) and key.startswith("_"):
            raise _Refused(f"template reads private attribute {key!r}; only plain run values are allowed")
        node = node.node
    if isinstance(node, nodes.Name):
        if node.name in ALLOWED_NAMES:
            return
        raise _Refused(f"template uses {node.name!r}, which a spec may not read (secrets come from connections "
                       f"or Kubernetes Secrets); allowed: {_ALLOWED_TEXT}")
    if isinstance(node, nodes.Call):
        callee = node.node
        while isinstance(callee, nodes.Getattr | nodes.Getitem):
            callee = callee.node
        if isinstance(callee, nodes.Name) and callee.name not in ALLOWED_NAMES:
            _value(callee)  # names the variable a spec may not read
        raise _Refused("templates may not call functions or macros; use the plain values (e.g. {{ ds }})")
    if isinstance(node, nodes.BinExpr | nodes.UnaryExpr | nodes.Concat):
        raise _Refused("templates may not compute (arithmetic or '~'); output a run value, e.g. {{ ds }}")
    if isinstance(node, nodes.Const | nodes.Literal):
        raise _Refused("templates output run values, not constants; write the text itself "
                       "(and {% raw %}{{{% endraw %} for literal braces)")
    if isinstance(node, nodes.Test | nodes.Compare | nodes.CondExpr):
        raise _Refused("templates may not test or compare values; output a run value, e.g. {{ ds }}")
    raise _Refused(f"{type(node).__name__} expressions are not allowed in templates; output a run value, "
                   f"e.g. {{{{ ds }}}} ({_ALLOWED_TEXT})")
