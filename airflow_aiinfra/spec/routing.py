"""A tiny, safe language for routing conditions (``user_type == 'premium'``).

Never ``eval``: a tokenizer and a recursive-descent parser build a small tuple AST
that :func:`evaluate` walks against a dict of request attributes.

Grammar::

    expr := and ('or' and)* ;  and := not ('and' not)* ;  not := 'not' not | cmp
    cmp  := atom (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') atom)?
    atom := NAME | STRING | NUMBER | true | false | '(' expr ')' | '[' atom (',' atom)* ']'

The single word ``default`` matches every request.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from airflow_aiinfra.errors import RoutingSyntaxError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))"
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}
Node = tuple[Any, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RoutingSyntaxError(f"unexpected {text[pos:].strip()[:20]!r} at position {pos + 1} in {_shown(text)}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "name" and value in _KEYWORDS:
            kind = "kw"
        out.append((kind, value))
        pos = m.end()
    return out


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:59] + "…")


MAX_LENGTH = 1024
MAX_NESTING = 32  # parentheses, lists and `not`s inside each other (the parser is recursive descent)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise RoutingSyntaxError(f"condition nests more than {MAX_NESTING} levels deep; simplify it")

    def peek(self, *values: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i][1] in values

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise RoutingSyntaxError(f"condition {_shown(self.text)} ends too early")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got != value:
            raise RoutingSyntaxError(f"expected {value!r} but found {got!r} in {_shown(self.text)}")

    def parse(self) -> Node:
        node = self.or_()
        if self.i != len(self.toks):
            raise RoutingSyntaxError(f"unexpected {self.toks[self.i][1]!r} in {_shown(self.text)}")
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.peek("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.peek("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.peek("not"):
            self.take()
            self.nest()
            node = ("not", self.not_())
            self.depth -= 1
            return node
        return self.cmp()

    def cmp(self) -> Node:
        left = self.atom()
        if self.peek("==", "!=", "<", "<=", ">", ">=", "in"):
            return ("cmp", self.take()[1], left, self.atom())
        if self.peek("not") and self.i + 1 < len(self.toks) and self.toks[self.i + 1][1] == "in":
            self.i += 2
            return ("not", ("cmp", "in", left, self.atom()))
        return left

    def atom(self) -> Node:
        kind, value = self.take()
        if value == "(":
            self.nest()
            node = self.or_()
            self.expect(")")
            self.depth -= 1
            return node
        if value == "[":
            self.nest()
            items = [self.atom()]
            while self.peek(","):
                self.take()
                items.append(self.atom())
            self.expect("]")
            self.depth -= 1
            return ("list", tuple(items))
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("lit", value[1:-1])
        if kind == "kw" and value in ("true", "false"):
            return ("lit", value == "true")
        if kind == "name":
            return ("var", value)
        raise RoutingSyntaxError(f"unexpected {value!r} in {_shown(self.text)}")


@lru_cache(maxsize=512)
def parse_condition(text: str) -> Node:
    """Parse a condition; ``default`` becomes a rule that always matches."""
    if text.strip() == "default":
        return ("lit", True)
    if not text.strip():
        raise RoutingSyntaxError("empty condition; write 'default' to match every request")
    if len(text) > MAX_LENGTH:
        raise RoutingSyntaxError(f"a condition of {len(text)} characters is longer than {MAX_LENGTH}; simplify it")
    return _Parser(text).parse()


def variables(node: Node) -> set[str]:
    """Names of the request attributes a condition reads."""
    if node[0] == "var":
        return {node[1]}
    if node[0] == "lit":
        return set()
    if node[0] == "list":
        return set().union(*(variables(n) for n in node[1]))
    return set().union(*(variables(n) for n in node[1:] if isinstance(n, tuple)))


# String literals end up in router configuration (HAProxy ACLs, Istio header matches): a safe set only.
SAFE_LITERAL = re.compile(r"[A-Za-z0-9_.-]+")


def unsafe_literal(node: Node) -> str | None:
    """The first string literal of a condition outside :data:`SAFE_LITERAL`, or None."""
    if node[0] == "lit":
        return node[1] if isinstance(node[1], str) and not SAFE_LITERAL.fullmatch(node[1]) else None
    children = node[1] if node[0] == "list" else [n for n in node[1:] if isinstance(n, tuple)]
    return next((bad for n in children if (bad := unsafe_literal(n)) is not None), None)


def unsafe_literal_message(value: str) -> str:
    return (f"literal {value!r} has characters outside [A-Za-z0-9_.-]; routing literals end up in router "
            "configuration, so only that safe set is allowed")


_CMP = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a is not None and b is not None and a < b,
    "<=": lambda a, b: a is not None and b is not None and a <= b,
    ">": lambda a, b: a is not None and b is not None and a > b,
    ">=": lambda a, b: a is not None and b is not None and a >= b,
    "in": lambda a, b: b is not None and a in b,
}


def evaluate(node: Node, attrs: dict[str, Any]) -> Any:
    """Evaluate a parsed condition; missing attributes are ``None``."""
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "var":
        return attrs.get(node[1])
    if op == "list":
        return [evaluate(n, attrs) for n in node[1]]
    if op == "not":
        return not evaluate(node[1], attrs)
    if op == "and":
        return bool(evaluate(node[1], attrs)) and bool(evaluate(node[2], attrs))
    if op == "or":
        return bool(evaluate(node[1], attrs)) or bool(evaluate(node[2], attrs))
    if op == "cmp":
        return _CMP[node[1]](evaluate(node[2], attrs), evaluate(node[3], attrs))
    raise ValueError(f"unknown node {op!r}")
