"""The SQL of a gate: one statement whose run values are bound parameters, never text.

A spec writes ``:name`` placeholders in ``query`` and their values (templates allowed) in ``params``::

    query: "SELECT * FROM users WHERE signup_day = :day AND country = ANY(:countries)"
    params: {day: "{{ ds }}"}

``scan`` is the one reading of such a query, used when the spec is validated (unknown placeholders, several
statements, templates in the SQL text are located errors) and again when the query runs (the hook binds the
values through the driver). One linear pass that knows string literals (``'...'``, ``E'...'``), quoted
identifiers, dollar quoting and comments, so a colon or a semicolon inside them is text, ``::`` is a cast, and
the statement SQLAlchemy's ``text()`` receives has every other colon escaped. Pure: no SQLAlchemy here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ScannedQuery:
    text: str  # for sqlalchemy.text(): placeholders as :name, every other colon escaped (\:)
    names: tuple[str, ...]  # placeholders, in order of first use
    problem: str | None = None  # why the query cannot run as a gate query (several statements, templates)


def _end_of_quote(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the literal that opens at ``i``; ``len(sql)`` when it never closes."""
    j = i + 1
    while j < len(sql):
        c = sql[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:  # '' or "" inside: still the literal
                j += 2
                continue
            return j + 1
        j += 1
    return len(sql)


def scan(sql: str) -> ScannedQuery:
    out: list[str] = []
    names: list[str] = []
    problem = None
    if "{{" in sql or "{%" in sql:
        problem = ("the SQL text is not templated: run values are bound parameters; write ':name' in the query "
                   "and give its value under 'params' (e.g. params: {day: \"{{ ds }}\"})")
    i, n, ended, code_after_end = 0, len(sql), False, False
    while i < n:
        c = sql[i]
        if ended and not (c.isspace() or c == ";" or sql.startswith(("--", "/*"), i)):
            code_after_end = True
        if c in "'\"":
            backslash = c == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or
                                                                                  sql[i - 2] == "_"))
            j = _end_of_quote(sql, i, c, backslash)
            out.append(sql[i:j].replace(":", "\\:"))
            i = j
            continue
        if c == "$" and (m := _DOLLAR.match(sql, i)) and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            close = sql.find(m.group(0), m.end())
            j = n if close == -1 else close + len(m.group(0))
            out.append(sql[i:j].replace(":", "\\:"))
            i = j
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j == -1 else j
            out.append(sql[i:j].replace(":", "\\:"))
            i = j
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            j = n if close == -1 else close + 2
            if "/*" in sql[i + 2:j]:
                problem = problem or "nested /* comments */ are not supported in a gate query; remove the inner one"
            out.append(sql[i:j].replace(":", "\\:"))
            i = j
            continue
        if c == ";":
            ended = True
            out.append(c)
            i += 1
            continue
        if c == ":":
            if sql.startswith("::", i):
                out.append("\\:\\:")
                i += 2
                continue
            m = _NAME.match(sql, i + 1)
            if m and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
                names.append(m.group(0))
                out.append(":" + m.group(0))
                i = m.end()
                continue
            out.append("\\:")
            i += 1
            continue
        out.append(c)
        i += 1
    if code_after_end:
        problem = problem or ("a gate query is one statement: remove the ';' and what follows it "
                              "(the gate runs it read-only)")
    return ScannedQuery("".join(out), tuple(dict.fromkeys(names)), problem)


def param_problems(sql: str, params: dict[str, object]) -> list[tuple[str | None, str]]:
    """(param name or None for the query itself, message) for each mismatch between a query and its params."""
    scanned = scan(sql)
    found: list[tuple[str | None, str]] = []
    if scanned.problem:
        found.append((None, scanned.problem))
    given = sorted(params)
    for name in scanned.names:
        if name not in params:
            found.append((None, f"placeholder ':{name}' has no value: add it under 'params' "
                               f"({'given: ' + ', '.join(given) if given else 'none given'})"))
    for name in given:
        if name not in scanned.names:
            found.append((name, f"param {name!r} is not used by the query; write ':{name}' where it goes, "
                                "or remove it"))
    return found
