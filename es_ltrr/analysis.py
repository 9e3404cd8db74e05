"""Text analysis in Python, mirroring the analyzers the mappings declare.

One place for "what is a token": the embedded engine indexes with these functions, query
understanding tags with them and Q2E keys are built from them, so the three agree with each
other and (closely) with Lucene's `standard` tokenizer + `lowercase` + `asciifolding`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable

_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lowercase and strip accents ("Beyoncé" → "beyonce"), like lowercase+asciifolding."""
    # decompose before lowercasing: compatibility forms ("№", math letters) fold to plain
    # letters first, so that fold(fold(x)) == fold(x)
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """`ltrr_text`: standard-like word tokens, folded."""
    return _WORD.findall(fold(text))


def trigrams(text: str) -> list[str]:
    """`ltrr_trigram`: 3-character grams inside each letter/digit run, folded."""
    grams: list[str] = []
    for token in re.findall(r"[^\W_]+", fold(text)):
        grams.extend(token[i : i + 3] for i in range(len(token) - 2))
    return grams


def normalize_keyword(text: str) -> str:
    """`ltrr_norm`: the whole value, folded (keyword normalizer)."""
    return fold(text)


def normalize_query(text: str) -> str:
    """A query in canonical form: folded words joined by single spaces."""
    return " ".join(words(text))


def q2e_key(text: str) -> str:
    """The rank_features key of a query: folded words joined by `_`.

    rank_features keys may not contain dots; this key holds only word characters, so a
    user's text can never address another field through it.
    """
    return "_".join(words(text))


ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "ltrr_text": words,
    "standard": words,
    "ltrr_trigram": trigrams,
}


def analyzer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer function for an analyzer name; a clear error for unknown ones."""
    try:
        return ANALYZERS[name]
    except KeyError:
        raise ValueError(
            f"analyzer {name!r} is not supported by the embedded engine "
            f"(supported: {', '.join(sorted(ANALYZERS))})"
        ) from None
