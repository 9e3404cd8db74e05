"""Simulated users' typos: how they misspell and half-remember what they type.

Users misspell with their own model (:func:`typo`: QWERTY neighbours on a staggered
keyboard, fat-finger insertions, skipped keys, transpositions, sound-alike spellings
"ph"→"f", "ee"→"i", "ck"→"k"), spread over the words of a query by :func:`misspell_text`,
and drop words of long titles (:func:`drop_words`).

**Independence from the cold-start Q2E generator** (:mod:`es_ltrr.catalog.queries`). The
q2e arm is seeded with the queries that module predicts; users typing exactly those would
make the arm look perfect by construction. So this model shares nothing with that
module's typo model.
"""

from __future__ import annotations

import math
import random
from types import MappingProxyType
from typing import Mapping

#: QWERTY rows with their horizontal stagger (in key widths), for key distances.
_KEY_ROWS: tuple[tuple[str, float], ...] = (
    ("1234567890", -0.5),
    ("qwertyuiop", 0.0),
    ("asdfghjkl", 0.25),
    ("zxcvbnm", 0.75),
)
_KEY_POS: dict[str, tuple[float, float]] = {
    ch: (col + shift, float(row))
    for row, (keys, shift) in enumerate(_KEY_ROWS)
    for col, ch in enumerate(keys)
}


def _near_keys(ch: str) -> str:
    """Keys whose centres lie within 1.3 key widths of `ch` on a staggered keyboard."""
    x, y = _KEY_POS[ch]
    return "".join(
        k for k, (kx, ky) in _KEY_POS.items() if k != ch and math.hypot(kx - x, ky - y) <= 1.3
    )


KEYBOARD_NEIGHBOURS: Mapping[str, str] = MappingProxyType({ch: _near_keys(ch) for ch in _KEY_POS})

#: Sound-alike spellings, each at most 2 edits ("ph" → "f": one substitution, one deletion).
SOUND_ALIKES: tuple[tuple[str, str], ...] = (
    ("ph", "f"),
    ("ck", "k"),
    ("ee", "i"),
    ("ea", "ee"),
    ("oo", "u"),
    ("ou", "u"),
    ("ght", "t"),
    ("wh", "w"),
    ("y", "ie"),
    ("s", "z"),
    ("c", "k"),
    ("k", "c"),
    ("x", "ks"),
)


def _substitute_key(word: str, rng: random.Random) -> str:
    spots = [i for i, ch in enumerate(word) if ch in KEYBOARD_NEIGHBOURS]
    if not spots:
        return word
    i = _position(spots, rng)
    return word[:i] + rng.choice(KEYBOARD_NEIGHBOURS[word[i]]) + word[i + 1 :]


def _insert_key(word: str, rng: random.Random) -> str:
    """A fat finger: a neighbour of a letter typed just before or after it."""
    spots = [i for i, ch in enumerate(word) if ch in KEYBOARD_NEIGHBOURS]
    if not spots:
        return word
    i = _position(spots, rng)
    extra = rng.choice(KEYBOARD_NEIGHBOURS[word[i]])
    at = i + rng.randrange(2)
    return word[:at] + extra + word[at:]


def _skip_key(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = _position(list(range(len(word))), rng)
    return word[:i] + word[i + 1 :]


def _transpose(word: str, rng: random.Random) -> str:
    spots = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    if not spots:
        return word
    i = _position(spots, rng)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _sound_alike(word: str, rng: random.Random) -> str:
    options = [(a, b) for a, b in SOUND_ALIKES if a in word and word != a]
    if not options:
        return word
    a, b = rng.choice(options)
    starts = [i for i in range(len(word)) if word.startswith(a, i)]
    i = rng.choice(starts)
    return word[:i] + b + word[i + len(a) :]


def _position(spots: list[int], rng: random.Random) -> int:
    """A typo position; the first letter is 3× less likely to be wrong than the others."""
    weights = [0.3 if i == 0 else 1.0 for i in spots]
    return rng.choices(spots, weights)[0]


_TYPOS = (_substitute_key, _insert_key, _skip_key, _transpose, _sound_alike)
_TYPO_WEIGHTS = (0.3, 0.15, 0.2, 0.2, 0.15)


def typo(word: str, rng: random.Random) -> str:
    """One human typo of `word`: at most 2 edits, never empty, unchanged only if impossible.

    >>> typo("taylor", random.Random(1)) != "taylor"
    True
    """
    order = rng.choices(_TYPOS, _TYPO_WEIGHTS, k=len(_TYPOS)) + list(_TYPOS)
    for op in order:
        out = op(word, rng)
        if out != word and out:
            return out
    return word


def misspell_text(text: str, rng: random.Random, max_typos: int = 2) -> str:
    """`text` with 1 (sometimes up to `max_typos`) words of ≥ 3 letters mistyped."""
    tokens = text.split()
    eligible = [i for i, t in enumerate(tokens) if len(t) >= 3 and t.isalpha()]
    if not eligible:
        eligible = [i for i, t in enumerate(tokens) if t]
    if not eligible:
        return text
    count = 1 + sum(rng.random() < 0.2 for _ in range(max_typos - 1))
    for i in rng.sample(eligible, min(count, len(eligible))):
        tokens[i] = typo(tokens[i], rng)
    return " ".join(tokens)


def drop_words(text: str, rng: random.Random) -> str:
    """A half-remembered title: a contiguous fragment, or the title with a word or two gone.

    Drops at least one word when the title has two or more, and keeps at least two when it
    has three or more (one short word of a long title identifies nothing).
    """
    tokens = text.split()
    n = len(tokens)
    if n < 2:
        return text
    keep_min = min(2, n - 1)
    if rng.random() < 0.6:
        size = rng.randint(max(keep_min, n // 2), n - 1)
        start = rng.randrange(n - size + 1)
        return " ".join(tokens[start : start + size])
    drops = set(rng.sample(range(n), rng.randint(1, min(2, n - keep_min))))
    return " ".join(t for i, t in enumerate(tokens) if i not in drops)
