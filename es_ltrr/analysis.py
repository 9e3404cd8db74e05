"""Text analysis in Python, mirroring the analyzers the mappings declare.

One place for "what is a token": the embedded engine indexes with these functions, query
understanding tags with them and Q2E keys are built from them, so the three agree with each
other and (closely) with Lucene's `standard` tokenizer + `lowercase` + `asciifolding`.

Symbols: Lucene's `standard` tokenizer keeps each emoji as a token (`<EMOJI>`: "🔥🔥🔥" →
three tokens), so :func:`words` keeps every character of Unicode category So ("other
symbol": emoji, ★, ♥, ©, ♪) as a token of its own. Currency, math and modifier symbols
(Sc, Sm, Sk) stay out: in names they stand in for letters ("A$AP", "Ty Dolla $ign") or
separate parts ("Pop | Rock"). Where the two differ (an emoji sequence is one Lucene token
and several here; ♪ is no emoji for Lucene), the `symbols` sub-fields (`ltrr_symbol`: one
token per So character, a `pattern` tokenizer on the cluster) match alike on both engines.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
SYMBOL_CATEGORY = "So"


def is_symbol(token: str) -> bool:
    """True for a one-character token of Unicode category So (emoji and other symbols)."""
    return len(token) == 1 and unicodedata.category(token) == SYMBOL_CATEGORY


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lowercase and strip accents ("Beyoncé" → "beyonce"), like lowercase+asciifolding."""
    # decompose before lowercasing: compatibility forms ("№", math letters) fold to plain
    # letters first, so that fold(fold(x)) == fold(x)
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """`ltrr_text`: standard-like word tokens and symbol characters, folded.

    >>> words("Trap 2020 🔥🔥"), words("A$AP Rocky | ★")
    (['trap', '2020', '🔥', '🔥'], ['a', 'ap', 'rocky', '★'])
    """
    return [t for t in _TOKEN.findall(fold(text)) if _WORD.match(t) or is_symbol(t)]


def symbols(text: str) -> list[str]:
    """`ltrr_symbol`: one token per symbol character, in order (the cluster's `\\p{So}`).

    >>> symbols("💊ELECTRO-HOUSE💊 ❤️")
    ['💊', '💊', '❤']
    """
    return [c for c in text if is_symbol(c)]


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
    """The rank_features key of a query: folded words (and symbols) joined by `_`.

    rank_features keys may not contain dots; this key holds only word characters and So
    symbols, so a user's text can never address another field through it.

    >>> q2e_key("🔥🔥🔥"), q2e_key("Don't stop!")
    ('🔥_🔥_🔥', 'don_t_stop')
    """
    return "_".join(words(text))


ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "ltrr_text": words,
    "standard": words,
    "ltrr_trigram": trigrams,
    "ltrr_symbol": symbols,
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
