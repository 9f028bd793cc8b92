""""Did you mean ...?": the one place that suggests a fix for a misspelled name, key or value.

Bounded for any input: names too much longer or shorter than the typo to reach the cutoff are never
compared, and at most ``_MAX_CANDIDATES`` of the rest are, so a spec with thousands of typos against thousands of names stays
linear instead of quadratic (difflib's ratio is itself quadratic in the string length, hence ``_MAX_LEN``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

_MAX_CANDIDATES = 64
_MAX_LEN = 128


def closest(value: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The choice most similar to ``value`` (difflib ratio ≥ ``cutoff``), or None."""
    if not value or len(value) > _MAX_LEN:
        return None
    n = len(value)
    # difflib's ratio is at most 2·min(len)/(sum of len): skip what cannot reach the cutoff
    near = sorted(c for c in set(choices) if 0 < len(c) <= _MAX_LEN and 2 * min(n, len(c)) >= cutoff * (n + len(c)))
    if len(near) > _MAX_CANDIDATES:  # keep those sharing the first letter, then the closest lengths
        near = sorted(near, key=lambda c: (c[:1] != value[:1], abs(len(c) - len(value)), c))[:_MAX_CANDIDATES]
    found = difflib.get_close_matches(value, near, n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(value: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` or ``""``: appended to a message that already names the bad value."""
    close = closest(str(value), choices, cutoff=cutoff)
    return f"; did you mean {close!r}?" if close else ""


def did_you_mean_key(key: str, fields: list[str]) -> str:
    """For an unknown key: the closest allowed key (``gpus`` → ``gpu``), else the short list of allowed keys."""
    close = closest(key, fields) or (key.rstrip("s") if key.rstrip("s") in fields else None)
    if close:
        return f"; did you mean {close!r}?"
    return f"; allowed keys: {', '.join(fields)}" if 0 < len(fields) <= 12 else ""
