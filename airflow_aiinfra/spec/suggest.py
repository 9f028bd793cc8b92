""""Did you mean ...?": the one place that suggests a fix for a misspelled name, key or value.

Bounded for any input. Choices are indexed once by their character bigrams (:class:`Suggestions`); a typo
is compared (difflib's ratio, itself quadratic in string length, hence ``_MAX_LEN``) only with the
``_MAX_CANDIDATES`` choices sharing the most bigrams with it and long enough to reach the cutoff. So a spec
with thousands of typos against thousands of names stays about linear instead of quadratic.
"""

from __future__ import annotations

import difflib
import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable

_MAX_CANDIDATES = 16
_MAX_LEN = 128
_BUDGET = 200  # suggestions per index: a spec with more typos than that gets the errors without the hints


def _bigrams(text: str) -> set[str]:
    padded = f"\0{text}\0"
    return {padded[i:i + 2] for i in range(len(padded) - 1)}


class Suggestions:
    """An index of the valid choices; build it once per set of choices, ask it for each bad value."""

    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = sorted({c for c in choices if 0 < len(c) <= _MAX_LEN})
        self.index: dict[str, list[int]] = defaultdict(list)
        self.budget = _BUDGET
        for i, choice in enumerate(self.choices):
            for gram in _bigrams(choice):
                self.index[gram].append(i)

    def closest(self, value: str, *, cutoff: float = 0.6) -> str | None:
        """The choice most similar to ``value`` (difflib ratio ≥ ``cutoff``), or None."""
        if not value or len(value) > _MAX_LEN or not self.choices or self.budget <= 0:
            return None
        self.budget -= 1
        shared: Counter[int] = Counter()
        for gram in _bigrams(value):
            shared.update(self.index.get(gram, ()))
        n = len(value)
        # difflib's ratio is at most 2·min(len)/(sum of len): skip what cannot reach the cutoff
        fits = ((count, i) for i, count in shared.items()
                if 2 * min(n, len(self.choices[i])) >= cutoff * (n + len(self.choices[i])))
        near = [self.choices[i] for _, i in heapq.nlargest(_MAX_CANDIDATES, fits)]
        found = difflib.get_close_matches(value, near, n=1, cutoff=cutoff)
        return found[0] if found else None

    def hint(self, value: str, *, cutoff: float = 0.6) -> str:
        """``"; did you mean 'x'?"`` or ``""``: appended to a message that already names the bad value."""
        close = self.closest(str(value), cutoff=cutoff)
        return f"; did you mean {close!r}?" if close else ""


def closest(value: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    return Suggestions(choices).closest(value, cutoff=cutoff)


def did_you_mean(value: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """One-off suggestion; in a loop over many bad values, build one :class:`Suggestions` instead."""
    return Suggestions(choices).hint(value, cutoff=cutoff)


def did_you_mean_key(key: str, fields: list[str]) -> str:
    """For an unknown key: the closest allowed key (``gpus`` → ``gpu``), else the short list of allowed keys."""
    close = closest(key, fields) or (key.rstrip("s") if key.rstrip("s") in fields else None)
    if close:
        return f"; did you mean {close!r}?"
    return f"; allowed keys: {', '.join(fields)}" if 0 < len(fields) <= 12 else ""
