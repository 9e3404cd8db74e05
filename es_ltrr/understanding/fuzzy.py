"""Fuzzy matching of misspelt n-grams: rapidfuzz ratios helped by a phonetic skeleton.

Why the skeleton: by edit ratio "tayler" is closer to "tyler" than to "taylor", but people
confuse vowels and sound-alike letters more often than they add one, so the ratio of the
skeletons (vowels → "*", c/k/s and ph/f merged) lifts "taylor" above "tyler".

A match also needs few enough edits for its length (:func:`max_edits`): the ratio alone
let a random 4–6 letter string reach some name among ~60k (measured on the catalog:
"dtuwke" → Duke, "misoa" → MISSIO, "cing" → crying), because two edits are a large share
of a short word.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Protocol, Sequence, TypeVar

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

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


def max_edits(text: str) -> int:
    """Edits a fuzzy match of `text` may need: ⌊length / 4⌋ (0 below 4 characters).

    Like Elasticsearch's fuzziness AUTO (0 edits ≤ 2 chars, 1 for 3–5, 2 above) but on the
    whole n-gram and one step stricter for short terms: 1 edit for 4–7 characters, 2 for
    8–11, 3 for 12–15. Edits are optimal-string-alignment steps (a swap of two neighbours
    is one edit, as with Elasticsearch's `fuzzy_transpositions`).

    >>> [max_edits(w) for w in ("abc", "tayler", "coldpaly", "shap of yu", "bohemian rhapsdy")]
    [0, 1, 2, 2, 4]
    """
    return len(text) // 4


def within_edits(text: str, key: str) -> bool:
    """True when `key` is at most :func:`max_edits` of `text` edits away."""
    budget = max_edits(text)
    return OSA.distance(text, key, score_cutoff=budget) <= budget


def best_fuzzy(
    text: str,
    choices: Sequence[str],
    skeleton_of: Callable[[str], str],
    entries: Mapping[str, E],
) -> tuple[E, float, str] | None:
    """Shortlist by `fuzz.ratio`, rescore with the skeleton ratio, ties → popular.

    Only keys within :func:`max_edits` of `text` qualify.
    """
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
        if score >= FUZZY_CUTOFF and (best is None or rank > best) and within_edits(text, key):
            best, found = rank, (entry, score / 100.0, key)
    return found

