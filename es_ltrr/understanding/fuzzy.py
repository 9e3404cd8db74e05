"""Fuzzy matching of misspelt n-grams: rapidfuzz ratios helped by a phonetic skeleton.

Why the skeleton: by edit ratio "tayler" is closer to "tyler" than to "taylor", but people
confuse vowels and sound-alike letters more often than they add one, so the ratio of the
skeletons (vowels → "*", c/k/s and ph/f merged) lifts "taylor" above "tyler".
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Protocol, Sequence, TypeVar

from rapidfuzz import fuzz, process

FUZZY_CUTOFF = 80.0
_FUZZY_SHORTLIST = 12


class _Popular(Protocol):
    @property
    def popularity(self) -> float: ...


E = TypeVar("E", bound=_Popular)

_SKELETON_RULES = (
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck"), "k"),
    (re.compile(r"qu"), "kw"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"c"), "k"),
    (re.compile(r"z"), "s"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"[aeiouy]"), "*"),
    (re.compile(r"([^*\s])\1+"), r"\1"),
)


def skeleton(text: str) -> str:
    """A rough phonetic key: vowels → "*", c/k/s and ph/f merged, doubled letters once.

    >>> skeleton("tayler") == skeleton("taylor"), skeleton("beyonse") == skeleton("beyonce")
    (True, True)
    >>> skeleton("metalica") == skeleton("metallica")
    True
    """
    for pattern, repl in _SKELETON_RULES:
        text = pattern.sub(repl, text)
    return text


def best_fuzzy(
    text: str,
    choices: Sequence[str],
    skeleton_of: Callable[[str], str],
    entries: Mapping[str, E],
) -> tuple[E, float, str] | None:
    """Shortlist by `fuzz.ratio`, rescore with the skeleton ratio, ties → popular."""
    if not choices:
        return None
    # the skeleton ratio is at most 100, so the raw ratio must reach 2·cutoff − 100
    floor = 2 * FUZZY_CUTOFF - 100
    shortlist = process.extract(
        text, choices, scorer=fuzz.ratio, limit=_FUZZY_SHORTLIST, score_cutoff=floor
    )
    if not shortlist:
        return None
    sk = skeleton(text)
    best: tuple[float, float] | None = None
    found: tuple[E, float, str] | None = None
    for key, raw, _ in shortlist:
        # the skeleton may only help: max(raw, mean(raw, skeleton ratio))
        score = max(raw, 0.5 * raw + 0.5 * fuzz.ratio(sk, skeleton_of(key)))
        entry = entries[key]
        rank = (round(score, 6), entry.popularity)
        if score >= FUZZY_CUTOFF and (best is None or rank > best):
            best, found = rank, (entry, score / 100.0, key)
    return found

