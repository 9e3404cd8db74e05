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

#: Bump when tokens change: indexes built with another version are rebuilt (data dir
#: manifest, embedded index signature), never searched with mismatched tokens.
ANALYSIS_VERSION = 2

#: A word as UAX#29 (Lucene's `standard` tokenizer) sees it: word characters, joined across
#: an apostrophe, period or colon between letters ("who's", "u.s.a", "rock'n'roll") and
#: across a period, comma, semicolon or apostrophe between digits ("1.5", "2,000").
_WORD_PATTERN = (
    r"\w+(?:(?:(?<=[^\W\d_])[.:'](?=[^\W\d_])|(?<=\d)[.,;'](?=\d))\w+)*"
)
_WORD = re.compile(r"\w", re.UNICODE)
_TOKEN = re.compile(_WORD_PATTERN + r"|[^\w\s]", re.UNICODE)
#: asciifolding turns typographic apostrophes into "'" ("don’t" → "don't").
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})
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
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_APOSTROPHES)


def words(text: str) -> list[str]:
    """`ltrr_text`: standard-like word tokens and symbol characters, folded.

    >>> words("Trap 2020 🔥🔥"), words("A$AP Rocky | ★")
    (['trap', '2020', '🔥', '🔥'], ['a', 'ap', 'rocky', '★'])
    >>> words("Who’s afraid of U.S.A. 1.5 2,000 5:00 vol.5 80's")
    ["who's", 'afraid', 'of', 'u.s.a', '1.5', '2,000', '5', '00', 'vol', '5', '80', 's']
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

    >>> q2e_key("🔥🔥🔥"), q2e_key("Don't stop!"), q2e_key("U.S.A. 1.5")
    ('🔥_🔥_🔥', 'don_t_stop', 'u_s_a_1_5')
    """
    return "_".join(part for token in words(text) for part in _JOINERS.split(token) if part)


#: The punctuation a word token may hold inside (see _WORD_PATTERN); never in a Q2E key.
_JOINERS = re.compile(r"[.:',;]")

ANALYZERS: dict[str, Callable[[str], list[str]]] = {
    "ltrr_text": words,
    "standard": words,
    "ltrr_trigram": trigrams,
    "ltrr_symbol": symbols,
}


def script_of(text: str) -> str:
    """"latin" when Latin letters are at least half the letters, "other" when another script
    dominates, "none" without letters (a policy feature: other scripts match other arms).

    >>> script_of("tayler love"), script_of("Бетховен"), script_of("!!! 123")
    ('latin', 'other', 'none')
    """
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "none"
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return "latin" if latin * 2 >= len(letters) else "other"


def analyzer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer function for an analyzer name; a clear error for unknown ones."""
    try:
        return ANALYZERS[name]
    except KeyError:
        raise ValueError(
            f"analyzer {name!r} is not supported by the embedded engine "
            f"(supported: {', '.join(sorted(ANALYZERS))})"
        ) from None
